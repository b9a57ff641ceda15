"""`python3 -m labctl.cli`: the CLI of this checkout, whatever `labctl` on PATH points at."""
from labctl.cli import main

main()

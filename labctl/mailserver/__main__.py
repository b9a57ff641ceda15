"""python3 -m labctl.mailserver [--config /etc/labctl/mail/mta.yaml]"""
from __future__ import annotations

import argparse
import asyncio
import sys

from .config import DEFAULT_CONFIG_PATH, ConfigError, load_config
from .server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m labctl.mailserver",
                                     description="The e-mail lab's MTA/MSA.")
    parser.add_argument("--config", default=DEFAULT_CONFIG_PATH, help="YAML configuration file")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"labctl-mta: {error}", file=sys.stderr)
        return 2
    asyncio.run(serve(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/bin/sh
# Run Postfix in the foreground (master as PID 1's child via exec), logging to stdout.
set -e
postfix check
exec postfix start-fg

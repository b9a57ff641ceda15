#!/bin/sh
# Dovecot (SASL only) in the background, then Postfix in the foreground, both logging to stdout.
set -e
printf '%s\n' 'alumnopop@redes.unlp.edu.ar:{PLAIN}alumnopoppass' 'alumnoimap@redes.unlp.edu.ar:{PLAIN}alumnoimappass' \
    > /etc/dovecot/users
dovecot
postfix check
exec postfix start-fg

#!/bin/sh
# Dovecot (SASL only, the lab's two accounts) in the background, then bench/postfix's start.
set -e
printf '%s\n' 'alumnopop@redes.unlp.edu.ar:{PLAIN}alumnopoppass' 'alumnoimap@redes.unlp.edu.ar:{PLAIN}alumnoimappass' \
    > /etc/dovecot/users
dovecot
exec /usr/local/sbin/bench-postfix

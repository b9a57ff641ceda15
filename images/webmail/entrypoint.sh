#!/bin/sh
# Roundcube's key for the session's copy of the IMAP password: one per container,
# kept across restarts (stop/start), never shared by images or labs.
set -e
key=/var/lib/roundcube/labctl-des-key.inc.php
if [ ! -s "$key" ]; then
    umask 027
    printf "<?php\n\$config['des_key'] = '%s';\n" "$(head -c 18 /dev/urandom | base64)" > "$key.new"
    chgrp www-data "$key.new"
    mv "$key.new" "$key"
fi
mkdir -p /run/php
php-fpm8.2
exec nginx -c /etc/labctl/webmail/nginx.conf -g "daemon off;"

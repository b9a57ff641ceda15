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
# Roundcube's database lives on a tmpfs of a fixed size (a loop of requests stored a session
# each: 380 MB an hour on the host's disk): made from the image's empty one at each start.
db=/var/lib/dbconfig-common/sqlite3/roundcube/roundcube
if [ ! -s "$db" ]; then
    install -o www-data -g www-data -m 660 /usr/local/share/labctl/roundcube.sqlite "$db"
fi
mkdir -p /run/php
php-fpm8.2
exec nginx -c /etc/labctl/webmail/nginx.conf -g "daemon off;"

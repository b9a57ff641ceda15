#!/bin/sh
# Dovecot (POP3/IMAP) and labctl's MTA share the Maildirs, both as user vmail.
# /var/lib/labctl-mail is the mail volume (labctl.render.configs.MAIL_DATA_DIR).
# The container runs with net.ipv4.ip_unprivileged_port_start=0 so the MTA
# binds 25/587 unprivileged.
set -eu
data=/var/lib/labctl-mail
mkdir -p "$data/maildirs" "$data/spool" "$data/log"
chown vmail:vmail "$data" "$data/maildirs" "$data/spool" "$data/log"
dovecot -c /etc/labctl/mail/dovecot.conf
exec setpriv --reuid=vmail --regid=vmail --init-groups \
    python3 -m labctl.mailserver --config /etc/labctl/mail/mta.yaml

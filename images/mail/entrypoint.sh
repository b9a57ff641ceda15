#!/bin/sh
# Dovecot (POP3/IMAP) and labctl's MTA share the Maildirs under /srv/mail,
# both as user vmail. The container runs with
# net.ipv4.ip_unprivileged_port_start=0 so the MTA binds 25/587 unprivileged.
set -eu
mkdir -p /srv/mail /var/spool/labctl-mta /var/log/labctl-mta
chown vmail:vmail /srv/mail /var/spool/labctl-mta /var/log/labctl-mta
dovecot -c /etc/labctl/mail/dovecot.conf
exec setpriv --reuid=vmail --regid=vmail --init-groups \
    python3 -m labctl.mailserver --config /etc/labctl/mail/mta.yaml

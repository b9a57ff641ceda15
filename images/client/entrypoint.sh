#!/bin/sh
# Trust the lab CA system-wide (swaks, curl, openssl, mutt and python read the
# system store), then run the container's command: `sleep infinity` for the
# students' shell in the lab, the access script in class mode.
# labctl mounts the client's rendered folder at /etc/labctl/client
# (labctl.render.configs.CLIENT_CA_FILE); a lab without a mail service has no CA.
set -eu
ca=/etc/labctl/client/lab-ca.crt
if [ -f "$ca" ]; then
    cp "$ca" /usr/local/share/ca-certificates/labctl-lab-ca.crt
    update-ca-certificates >/dev/null
fi
# labctl waits for this line before it says the lab is up (CLIENT_READY).
echo "labctl client ready"
exec "$@"

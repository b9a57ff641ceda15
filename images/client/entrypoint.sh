#!/bin/sh
# Trust the lab CA system-wide (swaks, curl, openssl, mutt and python read the
# system store), then run the container's command: `sleep infinity` for the
# students' shell in the lab, the access script in class mode.
# labctl mounts the client's rendered folder at /etc/labctl/client
# (labctl.render.configs.CLIENT_CA_FILE); a lab without a mail service has no CA.
set -eu
ca=/etc/labctl/client/lab-ca.crt
if [ -f "$ca" ]; then
    # What update-ca-certificates does for one added CA, without rehashing the whole
    # store (0.8 s, on the critical path of `labctl up`): the certificate, its hash
    # link for CApath readers (openssl, python, swaks) and the bundle for CAfile
    # readers (curl, mutt), made again from Debian's own at every start.
    cp "$ca" /usr/local/share/ca-certificates/labctl-lab-ca.crt
    ln -sf /usr/local/share/ca-certificates/labctl-lab-ca.crt /etc/ssl/certs/labctl-lab-ca.pem
    ln -sf labctl-lab-ca.pem "/etc/ssl/certs/$(openssl x509 -hash -noout -in "$ca").0"
    cat /usr/share/labctl/ca-certificates.crt "$ca" > /etc/ssl/certs/ca-certificates.crt
fi
# labctl waits for this line before it says the lab is up (CLIENT_READY).
echo "labctl client ready"
exec "$@"

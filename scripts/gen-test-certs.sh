#!/usr/bin/env bash
# Writes a throwaway PKI for TLS tests into DIR (default ./tests/tls):
#   ca.crt / ca.key          the cluster's CA
#   server.crt / server.key  signed by ca, for 127.0.0.1, ::1 and localhost
#                            (server and client use: nodes present it both ways)
#   client.crt / client.key  a client certificate signed by ca
#   rogue-ca.crt, rogue.crt / rogue.key  a second CA and a certificate it
#                            signed: what an outsider would present
# EC P-256 keys in PKCS#8, valid for 10 days. Needs openssl.
set -euo pipefail
dir=${1:-tests/tls}
mkdir -p "$dir"
cd "$dir"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ca() { # name subject
    key "$1.key"
    openssl req -x509 -new -key "$1.key" -days 10 -subj "/CN=$2" -out "$1.crt" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

leaf() { # name ca subject
    key "$1.key"
    openssl req -new -key "$1.key" -subj "/CN=$3" -out "$1.csr" 2>/dev/null
    printf '%s\n' \
        "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature,keyEncipherment" \
        "extendedKeyUsage=serverAuth,clientAuth" \
        "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial \
        -days 10 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}

ca ca "FincasKV test CA"
leaf server ca "FincasKV test server"
leaf client ca "FincasKV test client"
ca rogue-ca "Someone else's CA"
leaf rogue rogue-ca "FincasKV rogue node"
rm -f ./*.srl
echo "test certificates in $PWD"

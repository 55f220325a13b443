#!/bin/bash
# Makes the certificates the TLS tests use, with openssl, into directory $1:
#   ca.pem ca.key            the test CA
#   server.pem server.key    dc_server's certificate (127.0.0.1, ::1, localhost)
#   client.pem client.key    a client certificate from the CA
#   ca2.pem ca2.key          a second, unrelated CA
#   other.pem other.key      a client certificate from the second CA
#   expired.pem expired.key  a client certificate from the CA, expired yesterday
# Keys are made readable by their owner only (the tools refuse others).
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
umask 077
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
ca() {
    key "$1"
    openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 30 -subj "/CN=$2" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
# leaf NAME CA DAYS EXTENSIONS
leaf() {
    key "$1"
    openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
    printf '%s\n' "basicConstraints=CA:FALSE" "$4" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -set_serial "0x$(openssl rand -hex 8)" \
        -out "$1.pem" -days "$3" -extfile "$1.ext" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}
ca ca "distcache test CA"
ca ca2 "another test CA"
leaf server ca 30 "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost
extendedKeyUsage=serverAuth"
leaf client ca 30 "extendedKeyUsage=clientAuth"
leaf other ca2 30 "extendedKeyUsage=clientAuth"
leaf expired ca -1 "extendedKeyUsage=clientAuth"
chmod 644 ./*.pem
chmod 600 ./*.key

#!/bin/sh
# Apache httpd + mod_ssl sharing TLS sessions through the installed
# libraries, with Apache's own mod_socache_dc: see apache/run.sh.
#
#   sh scenario_apache.sh PREFIX WORKDIR
exec sh "$(dirname "$0")/apache/run.sh" "$@"

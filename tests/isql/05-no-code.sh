#!/usr/bin/env bash
# No code at all: `isql DSN user password` (SQLConnect) logs in with the password, and
# the first statement fails with 28000 "two-factor authentication required". An
# application would now call SQLSetConnectAttr(dbc, 1002, code); isql cannot, so
# scripts pass the code as the other examples show.
. "$(dirname "$0")/lib.sh"

run "SELECT 'secret data'" isql -v -b "$TF_DSN" "$TF_USER" "$TF_PASS"
expect_in_output "28000"
expect_in_output "two-factor authentication required"
expect_not_in_output "secret data"
expect_not_in_output "Could not SQLConnect"
echo "ok: connected with the password only, and SQL was refused until the second factor"

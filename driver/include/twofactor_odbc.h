/*
 * twofactor_odbc.h - constants of the TwoFactor ODBC driver for C applications.
 *
 * The driver adds one connection attribute, SQL_ATTR_TWO_FACTOR (1002, the number
 * InterSystems IRIS uses), for the second factor of a login:
 *
 *     SQLRETURN rc;
 *     SQLUINTEGER pending = 0;
 *
 *     rc = SQLDriverConnect(dbc, NULL, (SQLCHAR *)"DSN=TwoFactorDemo;UID=demo;PWD=...",
 *                           SQL_NTS, NULL, 0, NULL, SQL_DRIVER_NOPROMPT);
 *     // Succeeds once the password is accepted, even if a second factor is still due.
 *     SQLGetConnectAttr(dbc, SQL_ATTR_TWO_FACTOR, &pending, sizeof pending, NULL);
 *     if (pending == SQL_TWO_FACTOR_PENDING) {
 *         // Ask the user for the code of their authenticator app.
 *         rc = SQLSetConnectAttr(dbc, SQL_ATTR_TWO_FACTOR, (SQLPOINTER)"123456", SQL_NTS);
 *         if (!SQL_SUCCEEDED(rc)) {
 *             // SQLSTATE 28000, native SQL_TWO_FACTOR_ERR_CODE_REJECTED (or _LOCKED):
 *             // the server has closed the session; SQLDisconnect and connect again.
 *         }
 *     }
 *     // Now statements run. Before the code, every statement fails with 28000,
 *     // native SQL_TWO_FACTOR_ERR_REQUIRED.
 *
 * The code may also be set BEFORE connecting (SQLSetConnectAttr on an allocated, not yet
 * connected handle): the driver keeps it and submits it right after the password. The
 * token may be narrow (SQLCHAR) or UTF-16 (SQLWCHAR) through either SQLSetConnectAttr or
 * SQLSetConnectAttrW, with SQL_NTS or a length in bytes. A NULL token gets HY009.
 * Submitting a code when none is pending returns SQL_SUCCESS_WITH_INFO.
 *
 * See docs/sqlstates.md for every error and docs/iris-differences.md for how this
 * differs from the IRIS driver.
 */
#ifndef TWOFACTOR_ODBC_H
#define TWOFACTOR_ODBC_H

/* Connection attribute: the second factor (Set: the code; Get: SQLUINTEGER state). */
#define SQL_ATTR_TWO_FACTOR                 1002

/* Values read with SQLGetConnectAttr(dbc, SQL_ATTR_TWO_FACTOR, &value, ...) into a
 * 32-bit unsigned integer. On a handle that is not connected the call fails with 08003. */
#define SQL_TWO_FACTOR_NOT_PENDING          0UL  /* none required, or already verified */
#define SQL_TWO_FACTOR_PENDING              1UL  /* the server waits for the code */

/* The two-factor state in detail (driver-specific attributes, read-only, through
 * SQLGetConnectAttr and SQLGetConnectAttrW). On a handle that was never connected, the
 * state reads SQL_TWO_FACTOR_STATE_NOT_CONNECTED and the others read empty or 0. */
#define SQL_ATTR_TWO_FACTOR_STATE           0x4000 /* SQLUINTEGER, one of the values below */
#define SQL_ATTR_TWO_FACTOR_METHOD          0x4001 /* text: "TOTP", "SMS", "e-mail", "backup
                                                      code", "ticket", "key", "certificate"
                                                      or "" (none) */
#define SQL_ATTR_TWO_FACTOR_DESTINATION     0x4002 /* text: where a sent code went, masked
                                                      ("SMS to +1 ***-***-4567"); "" for TOTP */
#define SQL_ATTR_TWO_FACTOR_SECONDS_LEFT    0x4003 /* SQLUINTEGER: seconds until the server
                                                      stops waiting for the code (pending), or
                                                      until the ticket in use expires; else 0 */
#define SQL_ATTR_TWO_FACTOR_DESCRIPTION     0x4004 /* text: the above as one English sentence,
                                                      for a status line or a prompt */

#define SQL_TWO_FACTOR_STATE_NOT_CONNECTED      0UL
#define SQL_TWO_FACTOR_STATE_NOT_REQUIRED       1UL /* the server asked for no second factor */
#define SQL_TWO_FACTOR_STATE_PENDING            2UL /* the server waits for the code */
#define SQL_TWO_FACTOR_STATE_VERIFIED           3UL /* a code was accepted */
#define SQL_TWO_FACTOR_STATE_VERIFIED_BY_TICKET 4UL /* a two-factor ticket was accepted */
#define SQL_TWO_FACTOR_STATE_SERVICE_ACCOUNT    5UL /* a service account's key or certificate
                                                       logged in; no interactive factor */
#define SQL_TWO_FACTOR_STATE_REJECTED           6UL /* the code was refused; session closed */
#define SQL_TWO_FACTOR_STATE_LOCKED             7UL /* the account is locked; session closed */
#define SQL_TWO_FACTOR_STATE_EXPIRED            8UL /* no code within the server's two-factor
                                                       timeout; session closed */

/* Native error codes (SQLGetDiagRec's NativeError) of the driver's own failures. */
#define SQL_TWO_FACTOR_ERR_BAD_PASSWORD     1001 /* 28000: user or password wrong (fatal) */
#define SQL_TWO_FACTOR_ERR_CODE_REJECTED    1002 /* 28000: "two-factor code rejected"; the
                                                    server closes the session */
#define SQL_TWO_FACTOR_ERR_LOCKED           1003 /* 28000: account locked after too many
                                                    failures; an admin unlocks it */
#define SQL_TWO_FACTOR_ERR_REQUIRED         1004 /* 28000: "two-factor authentication
                                                    required": SQL before the code */
#define SQL_TWO_FACTOR_ERR_TIMEOUT          1005 /* 08S01: the code did not arrive within
                                                    the server's two-factor timeout */
#define SQL_TWO_FACTOR_ERR_NOT_ENROLLED     1006 /* 28000: two-factor required but the
                                                    user has no TOTP key */
#define SQL_TWO_FACTOR_ERR_SEND_FAILED      1007 /* HY000: the SMS or e-mail code could not
                                                    be sent; try again later */
#define SQL_TWO_FACTOR_ERR_SEND_LIMIT       1008 /* HY000: too many codes sent to this user
                                                    this hour */
#define SQL_TWO_FACTOR_ERR_THROTTLED        1009 /* 28000: too many failed logins from this
                                                    address; wait */
#define SQL_TWO_FACTOR_ERR_METHOD_OFF       1010 /* 28000: the user's second-factor method
                                                    is switched off on the server */
#define SQL_TWO_FACTOR_ERR_CODE_ALREADY_USED 1020 /* 28000 (from the driver): this process
                                                    already submitted the code; not sent,
                                                    no failure counted (docs/pooling.md) */
#define SQL_TWO_FACTOR_ERR_BUSY             1021 /* 28000: too many login attempts at once
                                                    for this account or address; retry */
#define SQL_TWO_FACTOR_ERR_PENDING_LOGINS   1022 /* 08004: too many logins in progress from
                                                    this address; retry */
#define SQL_TWO_FACTOR_ERR_TICKET_REFUSED   1011 /* 28000: the two-factor ticket was refused
                                                    (expired, revoked, wrong key); counted
                                                    like a wrong code; the driver evicts it */
#define SQL_TWO_FACTOR_ERR_SERVICE_REFUSED  1012 /* 28000: service-account login refused
                                                    (key, certificate, or source address) */
#define SQL_TWO_FACTOR_ERR_TICKETS_OFF      1013 /* 28000: no ticket issued (policy off, not a code login, one per session); HY000: bad key */

#endif /* TWOFACTOR_ODBC_H */

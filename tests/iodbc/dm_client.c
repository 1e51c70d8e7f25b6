/*
 * A small ODBC application for the driver-manager tests (tests/iodbc/run.sh). It is
 * built twice with gcc, against iODBC's libiodbc.so.2 (SQLWCHAR is the 4-byte wchar_t)
 * and against unixODBC's libodbc.so.2 (SQLWCHAR is 2 bytes), and declares the few ODBC
 * calls it makes itself, so no -dev package is needed (Debian's libiodbc2-dev and
 * unixodbc-dev cannot be installed together).
 *
 *   dm_client wide-attr  CONNSTR CODE   SQLDriverConnectW, 1002 read and set through the
 *                                       wide calls with a SQLWCHAR token, then a statement
 *                                       with a wide and a narrow parameter, wide results
 *   dm_client odbc2-int  CONNSTR CODE   SQLSetConnectOption(dbc, 1002, <integer>), as PHP's
 *                                       odbc_setoption() does
 *   dm_client attr-before CONNSTR CODE  SQLSetConnectAttr(dbc, 1002, "code", SQL_NTS)
 *                                       before connecting
 * Prints what it checks; exits 0 when every check passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#if SQLWCHAR_BYTES == 4
typedef wchar_t SQLWCHAR;
#else
typedef unsigned short SQLWCHAR;
#endif
typedef void *SQLHANDLE;
typedef short SQLSMALLINT;
typedef unsigned short SQLUSMALLINT;
typedef int SQLINTEGER;
typedef long SQLLEN;
typedef unsigned long SQLULEN;
typedef short SQLRETURN;

#define SQL_SUCCEEDED(rc) (((rc) & (~1)) == 0)
#define SQL_HANDLE_ENV 1
#define SQL_HANDLE_DBC 2
#define SQL_HANDLE_STMT 3
#define SQL_ATTR_ODBC_VERSION 200
#define SQL_OV_ODBC3 3L
#define SQL_NTS (-3)
#define SQL_DRIVER_NOPROMPT 0
#define SQL_C_CHAR 1
#define SQL_C_WCHAR (-8)
#define SQL_VARCHAR 12
#define SQL_WVARCHAR (-9)
#define SQL_PARAM_INPUT 1
#define SQL_ATTR_TWO_FACTOR 1002

SQLRETURN SQLAllocHandle(SQLSMALLINT, SQLHANDLE, SQLHANDLE *);
SQLRETURN SQLSetEnvAttr(SQLHANDLE, SQLINTEGER, void *, SQLINTEGER);
SQLRETURN SQLDriverConnect(SQLHANDLE, void *, char *, SQLSMALLINT, char *, SQLSMALLINT, SQLSMALLINT *,
                           SQLUSMALLINT);
SQLRETURN SQLDriverConnectW(SQLHANDLE, void *, SQLWCHAR *, SQLSMALLINT, SQLWCHAR *, SQLSMALLINT, SQLSMALLINT *,
                            SQLUSMALLINT);
SQLRETURN SQLGetConnectAttrW(SQLHANDLE, SQLINTEGER, void *, SQLINTEGER, SQLINTEGER *);
SQLRETURN SQLGetConnectAttr(SQLHANDLE, SQLINTEGER, void *, SQLINTEGER, SQLINTEGER *);
SQLRETURN SQLSetConnectAttrW(SQLHANDLE, SQLINTEGER, void *, SQLINTEGER);
SQLRETURN SQLSetConnectAttr(SQLHANDLE, SQLINTEGER, void *, SQLINTEGER);
SQLRETURN SQLSetConnectOption(SQLHANDLE, SQLUSMALLINT, SQLULEN);
SQLRETURN SQLExecDirectW(SQLHANDLE, SQLWCHAR *, SQLINTEGER);
SQLRETURN SQLExecDirect(SQLHANDLE, char *, SQLINTEGER);
SQLRETURN SQLBindParameter(SQLHANDLE, SQLUSMALLINT, SQLSMALLINT, SQLSMALLINT, SQLSMALLINT, SQLULEN, SQLSMALLINT,
                           void *, SQLLEN, SQLLEN *);
SQLRETURN SQLDescribeColW(SQLHANDLE, SQLUSMALLINT, SQLWCHAR *, SQLSMALLINT, SQLSMALLINT *, SQLSMALLINT *,
                          SQLULEN *, SQLSMALLINT *, SQLSMALLINT *);
SQLRETURN SQLFetch(SQLHANDLE);
SQLRETURN SQLGetData(SQLHANDLE, SQLUSMALLINT, SQLSMALLINT, void *, SQLLEN, SQLLEN *);
SQLRETURN SQLGetDiagRec(SQLSMALLINT, SQLHANDLE, SQLSMALLINT, char *, SQLINTEGER *, char *, SQLSMALLINT,
                        SQLSMALLINT *);
SQLRETURN SQLGetDiagRecW(SQLSMALLINT, SQLHANDLE, SQLSMALLINT, SQLWCHAR *, SQLINTEGER *, SQLWCHAR *, SQLSMALLINT,
                         SQLSMALLINT *);
SQLRETURN SQLDisconnect(SQLHANDLE);
SQLRETURN SQLFreeHandle(SQLSMALLINT, SQLHANDLE);

static int failures = 0;

static void check(int ok, const char *what) {
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

/* UTF-8 -> SQLWCHAR (UTF-32 or UTF-16 with surrogate pairs), NUL-terminated. */
static SQLWCHAR *widen(const char *s) {
    SQLWCHAR *out = calloc(2 * strlen(s) + 1, sizeof(SQLWCHAR));
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned long c;
        int extra = *p >= 0xF0 ? 3 : *p >= 0xE0 ? 2 : *p >= 0xC0 ? 1 : 0;
        c = extra ? (*p & (0x3F >> extra)) : *p;
        p++;
        while (extra-- > 0 && *p) c = (c << 6) | (*p++ & 0x3F);
        if (sizeof(SQLWCHAR) == 2 && c > 0xFFFF) {
            c -= 0x10000;
            out[n++] = (SQLWCHAR)(0xD800 + (c >> 10));
            out[n++] = (SQLWCHAR)(0xDC00 + (c & 0x3FF));
        } else {
            out[n++] = (SQLWCHAR)c;
        }
    }
    return out;
}

static size_t wlen(const SQLWCHAR *w) {
    size_t n = 0;
    while (w[n]) n++;
    return n;
}

/* The first diagnostic's SQLSTATE and message, read through the narrow call. */
static void diag(SQLSMALLINT type, SQLHANDLE h, char state[6], char *msg, int msg_len) {
    SQLINTEGER native = 0;
    SQLSMALLINT len = 0;
    state[0] = 0;
    msg[0] = 0;
    SQLGetDiagRec(type, h, 1, state, &native, msg, (SQLSMALLINT)msg_len, &len);
}

static SQLHANDLE new_dbc(SQLHANDLE *env) {
    SQLHANDLE dbc = NULL;
    SQLAllocHandle(SQL_HANDLE_ENV, NULL, env);
    SQLSetEnvAttr(*env, SQL_ATTR_ODBC_VERSION, (void *)SQL_OV_ODBC3, 0);
    SQLAllocHandle(SQL_HANDLE_DBC, *env, &dbc);
    return dbc;
}

static unsigned int read_1002(SQLHANDLE dbc, int wide) {
    unsigned int v = 99;
    SQLINTEGER len = 0;
    SQLRETURN rc = wide ? SQLGetConnectAttrW(dbc, SQL_ATTR_TWO_FACTOR, &v, sizeof v, &len)
                        : SQLGetConnectAttr(dbc, SQL_ATTR_TWO_FACTOR, &v, sizeof v, &len);
    return SQL_SUCCEEDED(rc) ? v : 98;
}

/* One statement that must succeed once the second factor is verified. */
static int select_one(SQLHANDLE dbc) {
    SQLHANDLE st = NULL;
    char buf[16] = "";
    SQLLEN ind = 0;
    int ok;
    SQLAllocHandle(SQL_HANDLE_STMT, dbc, &st);
    ok = SQL_SUCCEEDED(SQLExecDirect(st, "SELECT 41 + 1", SQL_NTS)) && SQL_SUCCEEDED(SQLFetch(st)) &&
         SQL_SUCCEEDED(SQLGetData(st, 1, SQL_C_CHAR, buf, sizeof buf, &ind)) && strcmp(buf, "42") == 0;
    SQLFreeHandle(SQL_HANDLE_STMT, st);
    return ok;
}

static void wide_attr(const char *connstr, const char *code) {
    SQLHANDLE env, dbc = new_dbc(&env), st = NULL;
    SQLWCHAR out[512];
    SQLSMALLINT out_len = 0;
    SQLRETURN rc = SQLDriverConnectW(dbc, NULL, widen(connstr), SQL_NTS, out, 512, &out_len, SQL_DRIVER_NOPROMPT);
    char state[6], msg[512];
    diag(SQL_HANDLE_DBC, dbc, state, msg, sizeof msg);
    if (!SQL_SUCCEEDED(rc)) printf("     SQLDriverConnectW: %s %s\n", state, msg);
    check(SQL_SUCCEEDED(rc), "SQLDriverConnectW with a SQLWCHAR connection string");
    /* The driver reports characters; iODBC 3.52.9 rewrites the length in bytes. */
    size_t out_chars = wlen(out);
    if ((out_len != (SQLSMALLINT)out_chars && out_len != (SQLSMALLINT)(out_chars * sizeof(SQLWCHAR))) || out[0] != 'D')
        printf("     out connection string: length %d, %d SQLWCHARs, first %d\n", out_len, (int)out_chars, (int)out[0]);
    check((out_len == (SQLSMALLINT)out_chars || out_len == (SQLSMALLINT)(out_chars * sizeof(SQLWCHAR))) &&
              memcmp(out, widen("DSN=TwoFactorTest;"), 18 * sizeof(SQLWCHAR)) == 0,
          "the out connection string comes back in SQLWCHARs");
    check(read_1002(dbc, 1) == 1, "SQLGetConnectAttrW(1002) is 1: the second factor is pending");

    rc = SQLSetConnectAttrW(dbc, SQL_ATTR_TWO_FACTOR, widen(code), SQL_NTS);
    diag(SQL_HANDLE_DBC, dbc, state, msg, sizeof msg);
    if (!SQL_SUCCEEDED(rc)) printf("     SQLSetConnectAttrW: %s %s\n", state, msg);
    check(rc == 0, "SQLSetConnectAttrW(1002, SQLWCHAR token, SQL_NTS) verifies the code");
    check(read_1002(dbc, 1) == 0, "SQLGetConnectAttrW(1002) is 0 afterwards");

    /* A wide and a narrow parameter, selected back as wide and narrow text. */
    SQLAllocHandle(SQL_HANDLE_STMT, dbc, &st);
    SQLWCHAR *wide_in = widen("h\xc3\xa9llo \xf0\x9f\x98\x80 wide");
    char narrow_in[] = "narrow text";
    SQLLEN wide_ind = SQL_NTS, narrow_ind = SQL_NTS;
    rc = SQLBindParameter(st, 1, SQL_PARAM_INPUT, SQL_C_WCHAR, SQL_WVARCHAR, 64, 0, wide_in, 0, &wide_ind);
    check(SQL_SUCCEEDED(rc), "SQLBindParameter SQL_C_WCHAR");
    rc = SQLBindParameter(st, 2, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, 64, 0, narrow_in, 0, &narrow_ind);
    check(SQL_SUCCEEDED(rc), "SQLBindParameter SQL_C_CHAR");
    rc = SQLExecDirectW(st, widen("SELECT ? AS wide_col, ? AS narrow_col"), SQL_NTS);
    diag(SQL_HANDLE_STMT, st, state, msg, sizeof msg);
    if (!SQL_SUCCEEDED(rc)) printf("     SQLExecDirectW: %s %s\n", state, msg);
    check(SQL_SUCCEEDED(rc), "SQLExecDirectW with a wide and a narrow parameter");

    SQLWCHAR name[64];
    SQLSMALLINT name_len = 0, type = 0, digits = 0, nullable = 0;
    SQLULEN size = 0;
    rc = SQLDescribeColW(st, 1, name, 64, &name_len, &type, &size, &digits, &nullable);
    check(SQL_SUCCEEDED(rc) && name_len == 8 && memcmp(name, widen("wide_col"), 9 * sizeof(SQLWCHAR)) == 0,
          "SQLDescribeColW writes the column name in SQLWCHARs with its length in characters");

    check(SQL_SUCCEEDED(SQLFetch(st)), "SQLFetch");
    SQLWCHAR wide_out[64];
    SQLLEN wide_out_ind = 0;
    rc = SQLGetData(st, 1, SQL_C_WCHAR, wide_out, sizeof wide_out, &wide_out_ind);
    check(SQL_SUCCEEDED(rc) && wide_out_ind == (SQLLEN)(wlen(wide_in) * sizeof(SQLWCHAR)) &&
              memcmp(wide_out, wide_in, (wlen(wide_in) + 1) * sizeof(SQLWCHAR)) == 0,
          "the wide parameter comes back as the same SQLWCHARs (SQL_C_WCHAR, length in bytes)");
    char narrow_out[64] = "";
    SQLLEN narrow_out_ind = 0;
    rc = SQLGetData(st, 2, SQL_C_CHAR, narrow_out, sizeof narrow_out, &narrow_out_ind);
    if (SQL_SUCCEEDED(rc)) printf("     narrow column: \"%s\"\n", narrow_out);
    check(SQL_SUCCEEDED(rc) && strcmp(narrow_out, narrow_in) == 0, "the narrow parameter arrives whole");
    SQLFreeHandle(SQL_HANDLE_STMT, st);

    /* A diagnostic read through the wide call. */
    SQLAllocHandle(SQL_HANDLE_STMT, dbc, &st);
    rc = SQLExecDirectW(st, widen("SELECT FROM nowhere"), SQL_NTS);
    SQLWCHAR wstate[6], wmsg[256];
    SQLINTEGER native = 0;
    SQLSMALLINT wmsg_len = 0;
    rc = SQLGetDiagRecW(SQL_HANDLE_STMT, st, 1, wstate, &native, wmsg, 256, &wmsg_len);
    check(SQL_SUCCEEDED(rc) && wlen(wstate) == 5 && wmsg_len == (SQLSMALLINT)wlen(wmsg) && wmsg[0] == '[',
          "SQLGetDiagRecW writes SQLSTATE and message in SQLWCHARs");
    SQLFreeHandle(SQL_HANDLE_STMT, st);
    SQLDisconnect(dbc);
}

static void odbc2_int(const char *connstr, const char *code) {
    SQLHANDLE env, dbc = new_dbc(&env);
    char state[6], msg[512];
    SQLRETURN rc = SQLDriverConnect(dbc, NULL, (char *)connstr, SQL_NTS, NULL, 0, NULL, SQL_DRIVER_NOPROMPT);
    check(SQL_SUCCEEDED(rc), "SQLDriverConnect");

    /* Neither a 6-8 digit code nor readable memory: refused, the host lives on. */
    rc = SQLSetConnectOption(dbc, SQL_ATTR_TWO_FACTOR, 4096);
    diag(SQL_HANDLE_DBC, dbc, state, msg, sizeof msg);
    check(rc == -1 && strcmp(state, "HY024") == 0, "SQLSetConnectOption(1002, 4096) is HY024, not a crash");
    check(read_1002(dbc, 0) == 1, "the second factor is still pending");

    unsigned long value = strtoul(code, NULL, 10);
    rc = SQLSetConnectOption(dbc, SQL_ATTR_TWO_FACTOR, value);
    diag(SQL_HANDLE_DBC, dbc, state, msg, sizeof msg);
    if (code[0] == '0') {
        /* 012345 as an integer is 12345: the leading zero is lost, so it is refused. */
        check(rc == -1 && strcmp(state, "HY024") == 0, "a code with a leading zero as an integer is HY024");
        rc = SQLSetConnectAttr(dbc, SQL_ATTR_TWO_FACTOR, (void *)code, SQL_NTS);
        check(rc == 0, "the same code as a string verifies");
    } else {
        if (rc != 0) printf("     SQLSetConnectOption: %s %s\n", state, msg);
        check(rc == 0, "SQLSetConnectOption(1002, <code as an integer>) verifies the code");
    }
    check(read_1002(dbc, 0) == 0, "1002 reads 0 afterwards");
    check(select_one(dbc), "a statement runs");
    SQLDisconnect(dbc);
}

static void attr_before(const char *connstr, const char *code) {
    SQLHANDLE env, dbc = new_dbc(&env);
    char token[16];
    snprintf(token, sizeof token, "%s", code);
    SQLRETURN rc = SQLSetConnectAttr(dbc, SQL_ATTR_TWO_FACTOR, token, SQL_NTS);
    check(SQL_SUCCEEDED(rc), "SQLSetConnectAttr(1002, code, SQL_NTS) before connecting");
    rc = SQLDriverConnect(dbc, NULL, (char *)connstr, SQL_NTS, NULL, 0, NULL, SQL_DRIVER_NOPROMPT);
    char state[6], msg[512];
    diag(SQL_HANDLE_DBC, dbc, state, msg, sizeof msg);
    if (!SQL_SUCCEEDED(rc)) printf("     SQLDriverConnect: %s %s\n", state, msg);
    check(SQL_SUCCEEDED(rc), "SQLDriverConnect submits the code kept from before");
    check(read_1002(dbc, 0) == 0, "1002 reads 0: verified at connect");
    check(select_one(dbc), "a statement runs");
    SQLDisconnect(dbc);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s wide-attr|odbc2-int|attr-before CONNSTR CODE\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "wide-attr") == 0)
        wide_attr(argv[2], argv[3]);
    else if (strcmp(argv[1], "odbc2-int") == 0)
        odbc2_int(argv[2], argv[3]);
    else if (strcmp(argv[1], "attr-before") == 0)
        attr_before(argv[2], argv[3]);
    else
        return 2;
    printf("%s: %d check(s) failed\n", argv[1], failures);
    return failures ? 1 : 0;
}

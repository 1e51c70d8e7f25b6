// node-odbc (npm `odbc`; tests/clients/run.sh sets TF_DSN, TF_LOGINS and NODE_PATH).
// node-odbc cannot set attribute 1002: the code goes in the connection string.
'use strict';
const odbc = require('odbc');

const dsn = process.env.TF_DSN;
const logins = process.env.TF_LOGINS.split(',').map((l) => l.split(':'));

function check(name, ok, why = '') {
  console.log(ok ? `PASS node_odbc: ${name}` : `FAIL node_odbc: ${name}: ${why}`);
}
const connectWith = ([user, pass], extra) => odbc.connect(`DSN=${dsn};UID=${user};PWD=${pass};${extra}`);
const answer = async (conn) => Number((await conn.query('SELECT 40 + 2 AS v'))[0].v);
const why = (e) => (e && e.odbcErrors ? JSON.stringify(e.odbcErrors) : String(e));

(async () => {
  let conn = null;
  try {
    conn = await connectWith(logins[0], `TwoFactorCode=${logins[0][2]}`);
    check('login with TwoFactorCode=', (await answer(conn)) === 42);
  } catch (e) { check('login with TwoFactorCode=', false, why(e)); }

  try {
    await connectWith(logins[0], `TwoFactorCode=${logins[0][2]}`);
    check('a reused code is refused locally with 28000', false, 'connected');
  } catch (e) {
    const first = (e.odbcErrors || [])[0] || {};
    check('a reused code is refused locally with 28000',
      first.state === '28000' && /new code is needed/.test(first.message), why(e));
  }

  try {
    const dm = await connectWith(logins[1], `DMConnAttr=[1002]=${logins[1][2]}`);
    check('login with DMConnAttr=[1002]=', (await answer(dm)) === 42);
    await dm.close();
  } catch (e) { check('login with DMConnAttr=[1002]=', false, why(e)); }

  if (!conn) return;
  const blob = Buffer.from([...Array(256).keys()]);
  const row = [42, 1099511627776, 2.5, 'grüße, 世界', '1999-12-31', '2026-11-23 10:30:15', blob];
  try {
    await conn.query('CREATE TABLE js_types (i INTEGER, big BIGINT, d DOUBLE, s VARCHAR(40), dt DATE, ts TIMESTAMP, b BLOB)');
    await conn.query('INSERT INTO js_types VALUES (?, ?, ?, ?, ?, ?, ?)', row);
    await conn.query('INSERT INTO js_types VALUES (?, ?, ?, ?, ?, ?, ?)', Array(7).fill(null));
    check('insert every type with parameters', true);
  } catch (e) { check('insert every type with parameters', false, why(e)); }
  try {
    const rows = await conn.query('SELECT i, big, d, s, dt, ts, b FROM js_types ORDER BY i IS NULL, i');
    check('select returns both rows', rows.length === 2, `rows: ${rows.length}`);
    if (rows.length === 2) {
      const r = rows[0];
      const cols = [['INTEGER', 'i'], ['BIGINT', 'big'], ['DOUBLE', 'd'], ['VARCHAR', 's'], ['DATE', 'dt'], ['TIMESTAMP', 'ts']];
      cols.forEach(([name, col], k) => {
        let v = String(r[col]);
        if (col === 'ts') v = v.replace(/\.0+$/, '');
        check(`${name} round-trips`, v === String(row[k]), `got '${v}', expected '${row[k]}'`);
      });
      const b = Buffer.isBuffer(r.b) ? r.b : Buffer.from(r.b || []);
      check('BLOB of bytes 00..FF round-trips', b.equals(blob), `got ${b.length} bytes starting ${b.subarray(0, 8).toString('hex')}`);
      const nulls = ['i', 'big', 'd', 's', 'dt', 'ts', 'b'].map((c) => rows[1][c]);
      check('NULL round-trips in every column', nulls.every((v) => v === null), JSON.stringify(nulls));
    }
  } catch (e) { check('select returns both rows', false, why(e)); }
  try {
    const tables = await conn.tables(null, null, 'js_types', 'TABLE');
    check('tables() lists the table', tables.some((t) => t.TABLE_NAME.toLowerCase() === 'js_types'), JSON.stringify(tables));
    const columns = await conn.columns(null, null, 'js_types', null);
    const names = columns.map((c) => c.COLUMN_NAME.toLowerCase()).join(',');
    check('columns() lists the columns in order', names === 'i,big,d,s,dt,ts,b', names);
  } catch (e) { check('tables() and columns()', false, why(e)); }
  await conn.close();
})().catch((e) => { check('node-odbc run', false, why(e)); });

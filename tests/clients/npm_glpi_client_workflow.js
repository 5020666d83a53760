// An ordinary integration workflow with the npm client `glpi-client` (pinned by
// tests/clients/npm/package-lock.json, installed by .ci/setup.d/22-glpi-npm-clients.sh):
// open a session, read the session, profiles, entities and configuration, create a
// ticket, read it (and three at once), list tickets with a text filter, follow it
// up, list its followups page by page, search it, update it, solve it, delete it
// (alone and as a batch), close the session.
//
// Usage: NODE_PATH=<node_modules> node npm_glpi_client_workflow.js URL USER_TOKEN APP_TOKEN TAG
// Prints one JSON object: each step's outcome with what a client would look at (ids
// and dates, which differ by server, left out).
'use strict';
const { GlpiClient } = require('glpi-client');

const [url, userToken, appToken, tag] = process.argv.slice(2);
const steps = {};

async function record(name, fn) {
  try {
    const value = await fn();
    // An answer itself (where an error was expected): its status and body.
    steps[name] = { ok: true, value: value && value.config ? [value.status, value.data] : value };
  } catch (e) {
    // The library's GlpiResponseException: the HTTP status and GLPI's error code.
    steps[name] = { ok: false, error: e.statusCode ? `${e.statusCode} ${e.reason}` : e.constructor.name };
  }
}

const sortedKeys = (o) => (o && typeof o === 'object' ? Object.keys(o).sort() : o);

(async () => {
  const client = new GlpiClient(url);
  let api;
  await record('session', async () => {
    api = await client.initSession({ userToken, appToken });
    return typeof api;
  });
  await record('my profiles', async () => sortedKeys((await api.getMyProfiles()).data.myprofiles[0]));
  await record('active profile', async () => sortedKeys((await api.getActiveProfile()).data.active_profile));
  await record('my entities', async () => (await api.getMyEntities()).data.myentities.map((e) => e.id));
  await record('active entities', async () => sortedKeys((await api.getActiveEntities()).data.active_entity));
  await record('full session', async () => sortedKeys((await api.getFullSession()).data));
  await record('configuration', async () => {
    const cfg = (await api.getGlpiConfig()).data.cfg_glpi;
    return ['enable_api', 'url_base_api'].map((k) => k in cfg);
  });

  const tids = [];
  await record('add tickets', async () => {
    const out = [];
    for (const n of [1, 2, 3]) {
      const r = await api.addItem('Ticket', { name: `${tag} printer ${n}`, content: `Tray ${n} jams` });
      tids.push(r.data.id);
      out.push([r.status, sortedKeys(r.data)]);
    }
    return out;
  });
  const [tid] = tids;
  await record('get ticket', async () => {
    const r = await api.getItem('Ticket', tid, { expand_dropdowns: true });
    return [r.status, ...['name', 'content', 'status', 'entities_id'].map((k) => r.data[k])];
  });
  await record('get unknown ticket', () => api.getItem('Ticket', 99999999));
  await record('list tickets by text', async () => {
    const r = await api.getItems('Ticket', { searchText: { name: tag }, range: '0-1', order: 'DESC' });
    return [r.status, r.headers['content-range'], r.data.map((t) => t.name)];
  });
  await record('add followups', async () => {
    const out = [];
    for (const content of ['first', 'second', 'third']) {
      const r = await api.addItem('ITILFollowup', { itemtype: 'Ticket', items_id: tid, content });
      out.push([r.status, sortedKeys(r.data)]);
    }
    return out;
  });
  await record('followups, page 2', async () => {
    const r = await api.getSubitems('Ticket', tid, 'ITILFollowup', { range: '1-1', sort: 'id', order: 'ASC' });
    return [r.status, r.headers['content-range'], r.data.map((f) => f.content)];
  });
  await record('search', async () => {
    const r = await api.search('Ticket', {
      criteria: [
        { field: 1, searchtype: 'contains', value: `${tag} printer` },
        { link: 'AND', field: 12, searchtype: 'equals', value: 'notold' },
      ],
      forcedisplay: [1, 2, 12],
      sort: 1,
      order: 'ASC',
      range: '0-1',
    });
    return [r.status, r.headers['content-range'], r.data.totalcount, r.data.data.map((row) => row['1'])];
  });
  await record('search with a bad field', () => api.search('Ticket', {
    criteria: [{ field: 99999, searchtype: 'contains', value: 'x' }],
  }));
  await record('get several tickets at once', async () => {
    const r = await api.getMultipleItems({
      items: tids.map((id) => ({ itemtype: 'Ticket', items_id: id })),
      expand_dropdowns: true,
    });
    return [r.status, r.data.map((t) => [t.name, t.entities_id])];
  });
  await record('update', async () => {
    const r = await api.updateItem('Ticket', tid, { urgency: 5 });
    return [r.status, r.data.map(sortedKeys)];
  });
  await record('urgency after update', async () => (await api.getItem('Ticket', tid)).data.urgency);
  await record('solve', async () => {
    const r = await api.addItem('ITILSolution', { itemtype: 'Ticket', items_id: tid, content: 'fixed' });
    return [r.status, sortedKeys(r.data)];
  });
  await record('solve again', () => api.addItem('ITILSolution', { itemtype: 'Ticket', items_id: tid, content: 'again' }));
  await record('delete one', async () => {
    const r = await api.deleteItem('Ticket', tid);
    return [r.status, r.data.map(sortedKeys)];
  });
  await record('delete a batch, purged', async () => {
    const r = await api.deleteItem('Ticket', tids.slice(1), { force_purge: true });
    return [r.status, r.data.length];
  });
  await record('get a purged ticket', () => api.getItem('Ticket', tids[1]));
  await record('delete unknown', () => api.deleteItem('Ticket', 99999999));
  await record('kill session', async () => (await api.killSession()).status);

  // Ticket ids differ by server: "<id>" in update and delete results
  // (`{"<id>": true, "message": …}`, recorded as their keys).
  const own = new Set(tids.map(String));
  const scrub = (v) => {
    if (Array.isArray(v)) return v.map(scrub);
    return typeof v === 'string' && own.has(v) ? '<id>' : v;
  };
  for (const name of ['update', 'delete one']) {
    if (steps[name].ok) steps[name].value = scrub(steps[name].value);
  }
  process.stdout.write(JSON.stringify(steps));
})();

// An ordinary integration workflow with the npm client `glpi-api` (pinned by
// tests/clients/npm/package-lock.json, installed by .ci/setup.d/22-glpi-npm-clients.sh):
// open a session, read the session, profiles and entities, create a ticket, read it,
// follow it up, list its followups (by path and through the ticket's HATEOAS links),
// solutions and tasks, search it, upload a document linked to it and one of its own,
// read and download them, read the ticket and a document in one call, update, solve
// and delete the ticket, close the session.
//
// Usage: NODE_PATH=<node_modules> node npm_glpi_api_workflow.js URL USER_TOKEN APP_TOKEN TAG
// Prints one JSON object: each step's outcome with what a client would look at (ids
// and dates, which differ by server, left out).
//
// The library sends its defaults on every call, and some of them mean the opposite
// of what it intends on a PHP server: `search` sends `uid_cols=false`,
// `withindexes=false` and `giveItems=false`, which GLPI checks with `isset` (so the
// columns come keyed by uid, the rows keyed by id, with `data_html`), and `sort=id`,
// which is no search option (GLPI answers the sort as `[0]`); `deleteItems` sends
// `force_purge=false`, which GLPI reads as a boolean.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const Glpi = require('glpi-api');

const [url, userToken, appToken, tag] = process.argv.slice(2);
const steps = {};

async function record(name, fn) {
  try {
    steps[name] = { ok: true, value: await fn() };
  } catch (e) {
    // The library's ServerError carries GLPI's error code as its message.
    steps[name] = { ok: false, error: e.name === 'ServerError' ? `${e.code} ${e.message}` : e.name };
  }
}

const sortedKeys = (o) => (o && typeof o === 'object' ? Object.keys(o).sort() : o);

(async () => {
  const glpi = new Glpi({ apiurl: url, user_token: userToken, app_token: appToken });
  await record('session', async () => sortedKeys((await glpi.initSession()).data));
  await record('my profiles', async () => sortedKeys((await glpi.getMyProfiles()).data[0]));
  await record('active profile', async () => sortedKeys((await glpi.getActiveProfile()).data));
  await record('my entities', async () => (await glpi.getMyEntities()).data.map((e) => e.id));
  await record('active entities', async () => sortedKeys((await glpi.getActiveEntities()).data));
  await record('full session', async () => typeof (await glpi.getFullSession()).data);

  let tid;
  await record('add ticket', async () => {
    const r = await glpi.addItems('Ticket', { name: `${tag} printer`, content: 'Tray 2 jams', urgency: 4 });
    tid = r.data.id;
    return [r.code, sortedKeys(r.data)];
  });
  let ticket;
  await record('get ticket', async () => {
    const r = await glpi.getItem('Ticket', tid);
    ticket = r.data;
    return [r.code, ...['name', 'content', 'urgency', 'status', 'is_deleted'].map((k) => r.data[k])];
  });
  await record('get ticket, expanded', async () => {
    const r = await glpi.getItem('Ticket', tid, { expand_dropdowns: true });
    return [r.data.entities_id, r.data.requesttypes_id];
  });
  await record('get unknown ticket', () => glpi.getItem('Ticket', 99999999));
  await record('add followups', async () => {
    const out = [];
    for (const content of ['first', 'second']) {
      const r = await glpi.addItems('ITILFollowup', { itemtype: 'Ticket', items_id: tid, content });
      out.push([r.code, sortedKeys(r.data)]);
    }
    return out;
  });
  await record('list followups', async () => {
    const r = await glpi.getSubItems('Ticket', tid, 'ITILFollowup');
    return [r.code, r.range, r.data.map((f) => f.content)];
  });
  await record('list followups by the ticket\'s links', async () => {
    const r = await glpi.getSubItems(ticket, 'ITILFollowup', { range: '0-0' });
    return [r.code, r.range, r.data.map((f) => f.content)];
  });
  await record('search', async () => {
    const r = await glpi.search('Ticket', {
      criteria: [{ field: 1, searchtype: 'contains', value: `${tag} printer` }],
      forcedisplay: [2, 12],
    });
    const d = r.data;
    return {
      code: r.code,
      keys: sortedKeys(d),
      totalcount: d.totalcount,
      rows: Object.values(d.data || {}).map((row) => sortedKeys(row)),
      names: Object.values(d.data || {}).map((row) => row['Ticket.name']),
    };
  });
  await record('search nothing', async () => {
    const r = await glpi.search('Ticket', {
      criteria: [{ field: 1, searchtype: 'contains', value: `${tag}zzzq` }],
    });
    return [r.code, r.range, r.data];
  });
  await record('search options', async () => {
    const r = await glpi.listSearchOptions('Ticket');
    return ['1', '9', '12'].map((k) => r.data[k].uid);
  });

  // Documents: one linked to the ticket, one of its own.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glpi-api-'));
  const file = path.join(dir, 'log.txt');
  fs.writeFileSync(file, 'log line 1\nlog line 2\n');
  let linked;
  let own;
  await record('upload a document linked to the ticket', async () => {
    const r = await glpi.upload({ filePath: file, fileName: 'log.txt', fileType: 'text/plain' },
      { itemtype: 'Ticket', items_id: tid });
    linked = r.data.id;
    return [r.code, sortedKeys(r.data), r.data.upload_result.filename.map((f) => [f.display, f.size, f.type])];
  });
  await record('upload a document of its own', async () => {
    const r = await glpi.upload(file, {}, `${tag} notes`);
    own = r.data.id;
    return [r.code, sortedKeys(r.data)];
  });
  await record('get the document', async () => {
    const r = await glpi.getItem('Document', own);
    return ['name', 'filename', 'mime', 'sha1sum', 'is_deleted'].map((k) => r.data[k]);
  });
  await record('download the linked document', async () => (await glpi.download(linked)).data);
  await record('download the document of its own', async () => (await glpi.download(own)).data);
  await record('the ticket\'s documents', async () => {
    const r = await glpi.getSubItems('Ticket', tid, 'Document_Item');
    return [r.code, r.data.map((d) => [d.itemtype, d.documents_id === linked])];
  });
  await record('link the document of its own to the ticket', async () => {
    const r = await glpi.addItems('Document_Item', { documents_id: own, itemtype: 'Ticket', items_id: tid });
    return [r.code, sortedKeys(r.data)];
  });
  await record('the ticket\'s documents after linking', async () => {
    const r = await glpi.getSubItems('Ticket', tid, 'Document_Item', { order: 'ASC' });
    return [r.code, r.range, r.data.map((d) => d.documents_id === linked || d.documents_id === own)];
  });
  await record('download an unknown document', () => glpi.download(99999999));
  await record('get the ticket and the document at once', async () => {
    const r = await glpi.getMultipleItems({
      items: [{ itemtype: 'Ticket', items_id: tid }, { itemtype: 'Document', items_id: own }],
    });
    return [r.code, r.data.map((item) => item.name)];
  });
  await record('get an unknown item among others', () => glpi.getMultipleItems({
    items: [{ itemtype: 'Ticket', items_id: tid }, { itemtype: 'Ticket', items_id: 99999999 }],
  }));

  await record('update', async () => {
    const r = await glpi.updateItems('Ticket', tid, { urgency: 2 });
    return [r.code, r.data.map(sortedKeys)];
  });
  await record('urgency after update', async () => (await glpi.getItem('Ticket', tid)).data.urgency);
  await record('solve', async () => {
    const r = await glpi.addItems('ITILSolution', { itemtype: 'Ticket', items_id: tid, content: 'fixed' });
    return [r.code, sortedKeys(r.data)];
  });
  await record('status after solve', async () => (await glpi.getItem('Ticket', tid)).data.status);
  await record('list solutions', async () => {
    const r = await glpi.getSubItems('Ticket', tid, 'ITILSolution');
    return r.data.map((s) => [s.content, s.status]);
  });
  await record('list tasks', async () => (await glpi.getSubItems('Ticket', tid, 'TicketTask')).data);
  await record('delete', async () => {
    const r = await glpi.deleteItems('Ticket', tid);
    return [r.code, r.data.map(sortedKeys)];
  });
  await record('get after delete', async () => (await glpi.getItem('Ticket', tid)).data.is_deleted);
  await record('delete unknown', () => glpi.deleteItems('Ticket', 99999999));
  await record('kill session', async () => (await glpi.killSession()).code);
  await record('call after kill', () => glpi.getMyProfiles());
  fs.rmSync(dir, { recursive: true, force: true });

  // The ticket's id differs by server: "<id>" in update and delete results
  // (`{"<id>": true, "message": …}`, recorded as their keys).
  const scrub = (v) => {
    if (Array.isArray(v)) return v.map(scrub);
    return v === String(tid) ? '<id>' : v;
  };
  for (const name of ['update', 'delete']) {
    if (steps[name].ok) steps[name].value = scrub(steps[name].value);
  }
  process.stdout.write(JSON.stringify(steps));
})();

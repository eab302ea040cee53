// The hub demo service in plain Node: the reference that Espell's hub is checked and benchmarked against.
//
//   node scripts/bench/node-hub.js --port PORT
//
// Listens on 127.0.0.1 (PORT 0 picks a free port), prints "listening on PORT" once ready,
// and exits with status 0 on SIGTERM or SIGINT. The interface is described in
// scripts/load, which checks every response of it.
'use strict';

const http = require('http');

const MAX_BODY_BYTES = 1024 * 1024;
const MAX_HEADER_BYTES = 8 * 1024;
const NAME_RE = /^[A-Za-z0-9._-]+$/;
const POSITIVE_INT_RE = /^[1-9][0-9]*$/;
const STATUS_TEXT = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

function usage(message) {
  process.stderr.write(`node-hub: ${message}\nusage: node scripts/bench/node-hub.js --port PORT\n`);
  process.exit(2);
}

function parseArgs(argv) {
  let port = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--port') {
      if (i + 1 >= argv.length) usage('--port needs a value');
      port = argv[++i];
    } else if (arg.startsWith('--port=')) {
      port = arg.slice('--port='.length);
    } else if (arg === '--help' || arg === '-h') {
      process.stdout.write('usage: node scripts/bench/node-hub.js --port PORT\n');
      process.exit(0);
    } else {
      usage(`unknown argument '${arg}'`);
    }
  }
  if (port === null) usage('--port is required');
  if (!/^[0-9]+$/.test(port) || Number(port) > 65535) usage(`--port must be an integer 0-65535, not '${port}'`);
  return { port: Number(port) };
}

// name -> { description, versions: [{ package, author, source }] }; version N is versions[N - 1].
const repos = new Map();

function addVersion(name, pkg, author, source) {
  let repo = repos.get(name);
  if (!repo) {
    repo = { description: '', versions: [] };
    repos.set(name, repo);
  }
  repo.versions.push({ package: pkg, author, source });
  return repo.versions.length;
}

function seed() {
  for (const [name, description] of [['Seaside', 'Web framework'], ['Zinc', 'HTTP components'], ['Roassal', 'Visualization engine']]) {
    repos.set(name, { description, versions: [] });
    for (const n of [1, 2]) addVersion(name, `${name}-Core`, 'hub', `version ${n} of ${name}`);
  }
}

function send(res, status, value, extraHeaders) {
  const body = Buffer.from(JSON.stringify(value));
  const headers = { 'Content-Type': 'application/json', 'Content-Length': body.length };
  if (extraHeaders) Object.assign(headers, extraHeaders);
  res.writeHead(status, headers);
  res.end(body);
}

function sendError(res, status, message, extraHeaders) {
  send(res, status, { error: message }, extraHeaders);
}

// Byte order, not locale order, so that every implementation sorts the same way.
function byName(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

function listRepos(req, res) {
  const names = [...repos.keys()].sort(byName);
  send(res, 200, names.map((name) => ({ name, versions: repos.get(name).versions.length })));
}

function showRepo(req, res, name) {
  const repo = repos.get(name);
  if (!repo) return sendError(res, 404, `no repository named ${name}`);
  send(res, 200, {
    name,
    description: repo.description,
    versions: repo.versions.map((v, i) => ({ number: i + 1, package: v.package, author: v.author })),
  });
}

function showVersion(req, res, name, numberText) {
  const repo = repos.get(name);
  if (!repo) return sendError(res, 404, `no repository named ${name}`);
  const number = POSITIVE_INT_RE.test(numberText) ? Number(numberText) : NaN;
  const version = Number.isSafeInteger(number) ? repo.versions[number - 1] : undefined;
  if (!version) return sendError(res, 404, `no version ${numberText} of repository ${name}`);
  send(res, 200, { name, number, package: version.package, author: version.author, source: version.source });
}

// Returns the reason the body is unacceptable, or null.
function invalidVersionBody(value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'body must be a JSON object';
  for (const field of ['package', 'author', 'source']) {
    if (typeof value[field] !== 'string') return `field "${field}" must be a string`;
  }
  return null;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function createVersion(req, res, name) {
  const chunks = [];
  let size = 0;
  let answered = false;
  req.on('data', (chunk) => {
    if (answered) return; // draining the rest of an oversized body so the connection stays usable
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      answered = true;
      chunks.length = 0;
      sendError(res, 413, 'request body too large');
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (answered) return;
    let value;
    try {
      value = JSON.parse(utf8.decode(Buffer.concat(chunks, size)));
    } catch (e) {
      return sendError(res, 400, 'body is not valid JSON');
    }
    const reason = invalidVersionBody(value);
    if (reason) return sendError(res, 400, reason);
    const number = addVersion(name, value.package, value.author, value.source);
    send(res, 201, { name, number });
  });
}

function decodeSegment(segment) {
  try {
    return decodeURIComponent(segment);
  } catch (e) {
    return null; // malformed percent-encoding: matches no route
  }
}

// Maps a path to { allow, handle } or null for an unknown path. A NAME that does not match
// NAME_RE makes the path unknown (404 "not found"), whatever the method.
function route(path) {
  const parts = path.split('/').slice(1).map(decodeSegment);
  if (parts.some((p) => p === null || p === '')) return null;
  if (parts.length === 1 && parts[0] === 'health') {
    return { allow: 'GET', handle: (req, res) => send(res, 200, { status: 'ok' }) };
  }
  if (parts[0] !== 'repos') return null;
  if (parts.length === 1) return { allow: 'GET', handle: listRepos };
  const name = parts[1];
  if (!NAME_RE.test(name)) return null;
  if (parts.length === 2) return { allow: 'GET', handle: (req, res) => showRepo(req, res, name) };
  if (parts[2] !== 'versions') return null;
  if (parts.length === 3) return { allow: 'POST', handle: (req, res) => createVersion(req, res, name) };
  if (parts.length === 4) return { allow: 'GET', handle: (req, res) => showVersion(req, res, name, parts[3]) };
  return null;
}

function handleRequest(req, res) {
  // Node's own check would answer a bare 400; ours answers in JSON and closes like other malformed requests.
  if (req.httpVersion === '1.1' && req.headers.host === undefined) {
    return sendError(res, 400, 'bad request', { Connection: 'close' });
  }
  const query = req.url.indexOf('?');
  const path = query < 0 ? req.url : req.url.slice(0, query);
  const found = path.startsWith('/') ? route(path) : null;
  if (!found) return sendError(res, 404, 'not found');
  if (req.method !== found.allow) return sendError(res, 405, 'method not allowed', { Allow: found.allow });
  found.handle(req, res);
}

// Raw response for errors Node's parser reports before a request object exists.
function rawErrorResponse(status, message) {
  const body = JSON.stringify({ error: message });
  return `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

function main() {
  const { port } = parseArgs(process.argv.slice(2));
  seed();

  const server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES, requireHostHeader: false });
  // Responses still being written on a socket: a parse error then cannot answer without
  // interleaving bytes into one of them, so the socket is just closed.
  server.on('request', (req, res) => {
    const socket = req.socket;
    socket.hubPending = (socket.hubPending || 0) + 1;
    res.on('finish', () => { socket.hubPending--; });
    res.on('close', () => { if (!res.writableFinished) socket.hubPending--; });
    handleRequest(req, res);
  });
  // A client announcing a body over the limit is refused before it sends it; the connection
  // closes because the body it may still send would otherwise be read as the next request.
  server.on('checkContinue', (req, res) => {
    const declared = Number(req.headers['content-length']);
    if (declared > MAX_BODY_BYTES) {
      return sendError(res, 413, 'request body too large', { Connection: 'close' });
    }
    res.writeContinue();
    server.emit('request', req, res);
  });
  server.on('clientError', (err, socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable || socket.hubPending > 0) {
      socket.destroy();
      return;
    }
    let response;
    if (err.code === 'HPE_HEADER_OVERFLOW') response = rawErrorResponse(431, 'request header fields too large');
    else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') response = rawErrorResponse(408, 'request timeout');
    else response = rawErrorResponse(400, 'bad request');
    socket.end(response);
  });
  server.on('error', (err) => {
    process.stderr.write(`node-hub: cannot listen on 127.0.0.1:${port}: ${err.message}\n`);
    process.exit(1);
  });

  server.listen(port, '127.0.0.1', () => {
    process.stdout.write(`listening on ${server.address().port}\n`);
  });

  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections(); // keep-alive connections would otherwise hold close() open
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();

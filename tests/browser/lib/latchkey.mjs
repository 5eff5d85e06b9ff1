// The real programs under test: `latchkey-server --dev` (one per scenario, on a free loopback
// port, mails as files in DATA/outbox) and the `latchkey` CLI as the device (answers on stdin).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = path.resolve(import.meta.dirname, '../../..');
export const SERVER_BIN = process.env.LATCHKEY_SERVER_BIN || path.join(ROOT, 'target/debug/latchkey-server');
export const CLI_BIN = process.env.LATCHKEY_CLI_BIN || path.join(ROOT, 'target/debug/latchkey');

// Every child we start, so that none outlives the suite (also on a crash or Ctrl-C).
const children = new Set();
function track(child) {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}
export function killChildren() {
  for (const child of children) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
}
process.on('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => { killChildren(); process.exit(130); });
}

/** A temporary directory, removed by `cleanup()` unless LATCHKEY_KEEP_TMP is set. */
export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Decodes a quoted-printable body if the mail says it is one. */
function mailBody(raw) {
  const split = raw.search(/\r?\n\r?\n/);
  const headers = split < 0 ? raw : raw.slice(0, split);
  let body = split < 0 ? '' : raw.slice(split).replace(/^\r?\n\r?\n/, '');
  if (/^content-transfer-encoding:\s*quoted-printable/im.test(headers)) {
    body = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
  } else if (/^content-transfer-encoding:\s*base64/im.test(headers)) {
    body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  }
  const subject = (headers.match(/^subject:\s*(.*)$/im) || [])[1] || '';
  const to = (headers.match(/^to:\s*(.*)$/im) || [])[1] || '';
  return { subject, to, body: body.replace(/\r\n/g, '\n'), raw };
}

export class DevServer {
  static async start() {
    const server = new DevServer();
    await server.#start();
    return server;
  }

  async #start() {
    this.dataDir = tempDir('latchkey-browser-server-');
    this.port = await freePort();
    this.logPath = path.join(this.dataDir, 'server.log');
    const log = fs.openSync(this.logPath, 'a');
    this.proc = track(spawn(SERVER_BIN,
      ['--dev', '--data-dir', this.dataDir, '--listen', `127.0.0.1:${this.port}`],
      { stdio: ['ignore', 'pipe', log] }));
    fs.closeSync(log);
    let out = '';
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(
        `latchkey-server did not start within 20 s; stdout: ${out}; log: ${this.logPath}`)), 20_000);
      this.proc.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`latchkey-server exited (${code}) while starting; log: ${this.logPath}\n${tail(this.logPath)}`));
      });
      this.proc.stdout.on('data', (chunk) => {
        out += chunk;
        const url = out.match(/^Latchkey server listening on (\S+)/m);
        const ca = out.match(/^Development CA: (.+)$/m);
        if (url && ca) {
          clearTimeout(timer);
          this.url = url[1].endsWith('/') ? url[1] : `${url[1]}/`;
          this.caPath = ca[1].trim();
          resolve();
        }
      });
    });
    this.proc.removeAllListeners('exit');
    this.proc.stdout.resume();
  }

  /** The absolute URL of a path on this server. */
  at(p) { return new URL(p.replace(/^\//, ''), this.url).href; }

  outboxNames() {
    try {
      return fs.readdirSync(path.join(this.dataDir, 'outbox')).filter((n) => n.endsWith('.eml')).sort();
    } catch { return []; }
  }

  readMail(name) {
    return { name, ...mailBody(fs.readFileSync(path.join(this.dataDir, 'outbox', name), 'utf8')) };
  }

  /**
   * The newest mail that `match`es and is not in `seen` (names from an earlier outboxNames()),
   * waiting for it up to `timeout` ms.
   */
  async waitForMail(what, match, { seen = [], timeout = 10_000 } = {}) {
    const old = new Set(seen);
    const deadline = Date.now() + timeout;
    for (;;) {
      const names = this.outboxNames().filter((n) => !old.has(n)).reverse();
      for (const name of names) {
        const mail = this.readMail(name);
        if (match(mail)) return mail;
      }
      if (Date.now() > deadline) {
        const subjects = this.outboxNames().map((n) => this.readMail(n).subject).join(' | ');
        throw new Error(`no new mail (${what}) in ${this.dataDir}/outbox within ${timeout} ms; mails: ${subjects || 'none'}`);
      }
      await sleep(100);
    }
  }

  /** The registration link mailed to `email`. */
  async registrationLink(email, opts) {
    const mail = await this.waitForMail(`registration link for ${email}`,
      (m) => m.to.includes(email) && /\/register\/finish\?t=/.test(m.body), opts);
    return mail.body.match(/https?:\/\/\S+\/register\/finish\?t=\S+/)[0];
  }

  /** The 8-digit code of the newest new mail whose subject or body matches `re`. */
  async mailedCode(what, re, opts) {
    const mail = await this.waitForMail(what, (m) => (re.test(m.subject) || re.test(m.body)) && /\b\d{4} ?\d{4}\b/.test(m.body), opts);
    return mail.body.match(/^\s*(\d{4} ?\d{4})\s*$/m)?.[1].replace(' ', '')
      ?? mail.body.match(/\b(\d{4} ?\d{4})\b/)[1].replace(' ', '');
  }

  async stop() {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }

  cleanup() {
    if (!process.env.LATCHKEY_KEEP_TMP) fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

function tail(file, lines = 15) {
  try { return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n'); } catch { return ''; }
}

/** The `latchkey` CLI with its own data directory: one device. */
export class Device {
  constructor(server) {
    this.server = server;
    this.dir = tempDir('latchkey-browser-device-');
  }

  /**
   * Runs `latchkey --data-dir D --ca CA --stdin ...args`. `input` is an array of lines or a
   * function (child) => Promise that talks to it. Resolves { code, stdout, stderr }.
   */
  run(args, { input = [], timeout = 30_000 } = {}) {
    // No Secret Service here: the kernel keyring, chosen as a person would.
    const full = ['--data-dir', this.dir, '--ca', this.server.caPath, '--keystore', 'kernel-keyring', '--stdin', ...args];
    const child = track(spawn(CLI_BIN, full, { stdio: ['pipe', 'pipe', 'pipe'] }));
    const result = { stdout: '', stderr: '', code: null, command: `latchkey ${args.join(' ')}` };
    child.stdout.on('data', (d) => { result.stdout += d; child.emit('output'); });
    child.stderr.on('data', (d) => { result.stderr += d; child.emit('output'); });
    child.stdin.on('error', () => { /* it exited before reading everything */ });
    child.result = result;
    const done = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${result.command} did not finish within ${timeout} ms\nstdout: ${result.stdout}\nstderr: ${result.stderr}`));
      }, timeout);
      child.on('error', (e) => { clearTimeout(timer); reject(e); });
      child.on('exit', (code) => { clearTimeout(timer); result.code = code; resolve(result); });
    });
    if (typeof input === 'function') {
      input(child).catch((e) => {
        child.kill('SIGKILL');
        result.stderr += `\n[test driver: ${e.message}]`;
      });
    } else {
      child.stdin.end(input.map((l) => `${l}\n`).join(''));
    }
    return done;
  }

  /** Like run(), but a non-zero exit is an error with the CLI's output. */
  async ok(args, opts) {
    const r = await this.run(args, opts);
    if (r.code !== 0) {
      throw new Error(`${r.command} failed (exit ${r.code})\nstdout: ${r.stdout.trim()}\nstderr: ${r.stderr.trim()}`);
    }
    return r;
  }

  /** Enrols from a PNG of the QR code, with the PIN chosen on the web page. */
  async enrolQr(png, pin) {
    const file = path.join(this.dir, 'qr.png');
    fs.writeFileSync(file, png);
    return this.ok(['enrol', '--qr', file], { input: [pin] });
  }

  /** `wait`: takes the pending sign-in request and answers with the number and the PIN. */
  approve(code, pin, { timeout = 15 } = {}) {
    return this.run(['wait', '--timeout', String(timeout)], { input: [code, pin], timeout: (timeout + 15) * 1000 });
  }

  deny({ notMe = false, timeout = 15 } = {}) {
    return this.ok(['wait', '--deny', ...(notMe ? ['--not-me'] : []), '--timeout', String(timeout)],
      { timeout: (timeout + 15) * 1000 });
  }

  /**
   * `pin forgot`: the new PIN twice (checked before anything is sent), the account password,
   * then the code mailed now.
   */
  forgotPin(password, newPin) {
    const seen = this.server.outboxNames();
    return this.ok(['pin', 'forgot'], {
      timeout: 40_000,
      input: async (child) => {
        child.stdin.write(`${newPin}\n${newPin}\n${password}\n`);
        await waitForOutput(child, /code was sent|sent to|e-mailed a code/i, 20_000);
        const code = await this.server.mailedCode('PIN reset code', /reset your PIN|PIN/i, { seen, timeout: 10_000 });
        child.stdin.end(`${code}\n`);
      },
    });
  }

  cleanup() {
    if (!process.env.LATCHKEY_KEEP_TMP) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function waitForOutput(child, re, timeout) {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (re.test(child.result.stdout) || re.test(child.result.stderr)) {
        clearTimeout(timer);
        child.off('output', check);
        child.off('exit', check);
        resolve();
      } else if (child.exitCode !== null) {
        clearTimeout(timer);
        reject(new Error(`exited before printing ${re}`));
      }
    };
    const timer = setTimeout(() => {
      child.off('output', check);
      reject(new Error(`no ${re} from the CLI within ${timeout} ms`));
    }, timeout);
    child.on('output', check);
    child.on('exit', check);
    check();
  });
}

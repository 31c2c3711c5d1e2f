// `droptrace setup kibana`: import deploy/kibana/droptrace.ndjson through
// Kibana's saved objects API (POST /api/saved_objects/_import?overwrite=true,
// multipart, kbn-xsrf header). Fixed ids, so importing again overwrites.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { basename } from 'node:path';
import { SinkError } from '../../errors.js';
import type { EsAuth } from './options.js';

export interface KibanaImportOptions {
  url: string;
  /** Kibana space; default space when absent. */
  space?: string;
  auth?: EsAuth;
  caFile?: string;
  file: string;
  timeoutMs?: number;
}

export interface KibanaImportResult {
  success: boolean;
  successCount: number;
  errors?: Array<{ id: string; type: string; error: { type: string; message?: string } }>;
}

/** multipart/form-data with one file part named "file" (what the import API reads). */
export function multipartBody(fileName: string, content: Buffer, boundary = `----droptrace${randomBytes(12).toString('hex')}`): { body: Buffer; contentType: string } {
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${fileName.replace(/["\r\n]/g, '_')}"\r\nContent-Type: application/ndjson\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return { body: Buffer.concat([head, content, tail]), contentType: `multipart/form-data; boundary=${boundary}` };
}

export function authHeader(auth: EsAuth | undefined): Record<string, string> {
  if (!auth) return {};
  if ('apiKey' in auth) return { authorization: `ApiKey ${auth.apiKey}` };
  return { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` };
}

export async function importKibanaAssets(o: KibanaImportOptions): Promise<KibanaImportResult> {
  let content: Buffer;
  try {
    content = readFileSync(o.file);
  } catch (e) {
    throw new SinkError(`cannot read ${o.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const base = new URL(o.url);
  const prefix = base.pathname.replace(/\/$/, '') + (o.space && o.space !== 'default' ? `/s/${encodeURIComponent(o.space)}` : '');
  const target = new URL(`${prefix}/api/saved_objects/_import?overwrite=true`, base);
  const { body, contentType } = multipartBody(basename(o.file), content);
  let ca: Buffer | undefined;
  if (o.caFile) {
    try {
      ca = readFileSync(o.caFile);
    } catch (e) {
      throw new SinkError(`cannot read the CA file ${o.caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  const headers = { 'kbn-xsrf': 'droptrace', 'content-type': contentType, 'content-length': String(body.length), ...authHeader(o.auth) };
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = (target.protocol === 'https:' ? httpsRequest : httpRequest)(target, { method: 'POST', headers, ...(ca ? { ca } : {}), timeout: o.timeoutMs ?? 60_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  }).catch((e: Error) => {
    throw new SinkError(`cannot reach Kibana at ${o.url}: ${e.message}`);
  });
  if (status === 401 || status === 403) throw new SinkError(`Kibana refused the import (${status})`, 'Check the Kibana credentials (--kibana-api-key-file, or --kibana-username with --kibana-password-file / DROPTRACE_KIBANA_PASSWORD).');
  let parsed: KibanaImportResult;
  try {
    parsed = JSON.parse(text) as KibanaImportResult;
  } catch {
    throw new SinkError(`Kibana answered ${status} with something that is not JSON: ${text.slice(0, 200)}`);
  }
  if (status < 200 || status >= 300) throw new SinkError(`Kibana import failed (${status}): ${text.slice(0, 500)}`);
  if (!parsed.success) {
    const errs = (parsed.errors ?? []).map((e) => `${e.type}/${e.id}: ${e.error.type}${e.error.message ? ` ${e.error.message}` : ''}`).join('; ');
    throw new SinkError(`Kibana imported ${parsed.successCount} objects but refused some: ${errs}`);
  }
  return parsed;
}

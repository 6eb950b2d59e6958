// The official Ollama and OpenAI JavaScript clients against one server:
// gpumgr's front door, or `gpumgr fake-llm` directly (only the base URL
// differs). Prints one JSON object of what came back (the answers, the
// model lists, the streaming's timing) for the test to compare and check.
// usage: node frontdoor.mjs BASE_URL TOKEN MODEL
import { Ollama } from 'ollama';
import OpenAI from 'openai';

const [base, token, model] = process.argv.slice(2);
const headers = token ? { Authorization: `Bearer ${token}` } : {};
const ollama = new Ollama({ host: base, headers });
const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: token || 'none' });
const out = { requests: 0 };
const now = () => Number(process.hrtime.bigint()) / 1e6;

// streamed: the text, the number of chunks, first and last arrival (ms
// after the request was sent)
async function timed(start, iter, text) {
  const t0 = now();
  const s = await start();
  let first = null, last = null, n = 0, all = '';
  for await (const part of s) {
    const t = now() - t0;
    if (first === null) first = t;
    last = t;
    n++;
    all += text(part);
  }
  return { text: all, chunks: n, first_ms: first, last_ms: last };
}

const g = await ollama.generate({ model, prompt: 'Why is the sky blue?', stream: false, options: { num_predict: 5 } });
out.requests++;
out.generate = g.response;

const c = await ollama.chat({ model, messages: [{ role: 'user', content: 'Hello there' }], stream: false });
out.requests++;
out.chat = c.message.content;

const cs = await timed(() => ollama.chat({ model, messages: [{ role: 'user', content: 'tell me a story' }], stream: true }),
  null, (p) => p.message.content);
out.requests++;
out.chat_stream = cs;

const e = await ollama.embed({ model, input: ['one', 'two'] });
out.requests++;
out.embed = e.embeddings.map((v) => v.slice(0, 4).map((x) => x.toFixed(6)));

out.list = (await ollama.list()).models.map((m) => m.name).sort();
out.ps = (await ollama.ps()).models.map((m) => m.name).sort();

const oc = await openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hello there' }] });
out.requests++;
out.openai_chat = oc.choices[0].message.content;

const os = await timed(() => openai.chat.completions.create({ model, stream: true, messages: [{ role: 'user', content: 'tell me a story' }] }),
  null, (p) => p.choices[0]?.delta?.content ?? '');
out.requests++;
out.openai_stream = os;

const oe = await openai.embeddings.create({ model, input: 'one' });
out.requests++;
out.openai_embed = oe.data[0].embedding.slice(0, 4).map((x) => x.toFixed(6));

out.openai_models = (await openai.models.list()).data.map((m) => m.id).sort();

let err = null;
try {
  await ollama.chat({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }], stream: false });
} catch (x) {
  err = { status: x.status_code, message: String(x.error ?? x.message) };
}
out.ollama_error = err;
err = null;
try {
  await openai.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] });
} catch (x) {
  err = { status: x.status };
}
out.openai_error = err;

console.log(JSON.stringify(out));

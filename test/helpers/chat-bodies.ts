/** Chat bodies with content parts: what the budget rules bound, and what a budgeted call sends through the gateway. */
type Json = Record<string, unknown>;

export const image = (detail?: string) => ({ type: 'image_url', image_url: { url: 'https://images.example/x.png', ...(detail ? { detail } : {}) } });
/** A system message first, so a part's param names a message index other than 0. */
export const asking = (...parts: unknown[]): Json => ({
  model: 'test-model',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: [{ type: 'text', text: 'What is in this?' }, ...parts] },
  ],
});
export const fileId = { type: 'file', file: { file_id: 'file-abc123' } };
export const fileData = { type: 'file', file: { filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBERi0xLjQK' } };
export const video = { type: 'input_video', input_video: { url: 'https://videos.example/x.mp4' } };

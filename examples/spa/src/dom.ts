// A few DOM helpers: the example keeps to the platform so that what it shows
// is the authql part, not a view framework.

type Attrs = Record<string, string | boolean | ((e: Event) => void)>;
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else if (v !== false) el.setAttribute(k, v);
  }
  for (const c of children) if (c) el.append(c);
  return el;
}

export function field(label: string, name: string, type = 'text', autocomplete = 'off'): HTMLLabelElement {
  return h('label', {}, label, h('input', { name, type, autocomplete, required: true }));
}

/** A form whose submit handler gets its values; it shows the handler's error message, if any. */
export function form(title: string, fields: Node[], submit: string, onSubmit: (values: Record<string, string>) => Promise<string | void>): HTMLFormElement {
  const alert = h('p', { role: 'alert' });
  const button = h('button', { type: 'submit' }, submit);
  const el = h('form', { 'aria-label': title }, ...fields, button, alert);
  el.addEventListener('submit', async (e) => {
    e.preventDefault();
    alert.textContent = '';
    button.disabled = true;
    const values = Object.fromEntries([...new FormData(el)].map(([k, v]) => [k, String(v)]));
    try {
      const err = await onSubmit(values);
      if (err) alert.textContent = err;
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

// A minimal browser for the interop scripts: a cookie jar, redirects followed by hand, and the
// forms of a page read with regular expressions, as a browser without JavaScript would see
// them. `browseToCallback` signs in on Gatehouse's login page, answers its consent page and
// stops at the redirect to the client's redirect URI (which need not exist).

export class Failed extends Error {}
export const check = (cond, message) => {
  if (!cond) throw new Failed(message)
}

function decodeEntities(s) {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|lt|gt|quot|apos);/gi, (_, e) => {
    const named = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[e.toLowerCase()]
    if (named) return named
    return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10))
  })
}

function attributes(tag) {
  const out = {}
  for (const m of tag.matchAll(/([a-zA-Z_:-]+)\s*=\s*"([^"]*)"/g)) out[m[1].toLowerCase()] = decodeEntities(m[2])
  return out
}

function formsOf(html) {
  return [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)].map(([, open, body]) => {
    const a = attributes(open)
    const inputs = [...body.matchAll(/<input\b[^>]*>/gi)].map(([t]) => attributes(t))
    const buttons = [...body.matchAll(/<button\b[^>]*>/gi)].map(([t]) => attributes(t))
    return { action: a.action ?? '', method: (a.method ?? 'get').toLowerCase(), inputs, buttons }
  })
}

export class Browser {
  jar = new Map()

  async request(url, init = {}) {
    const headers = new Headers(init.headers)
    if (this.jar.size) headers.set('cookie', [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '))
    const resp = await fetch(url, { ...init, headers, redirect: 'manual' })
    for (const line of resp.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';')
      const i = pair.indexOf('=')
      const name = pair.slice(0, i).trim()
      const value = pair.slice(i + 1).trim()
      const gone = attrs.some((a) => /^\s*max-age\s*=\s*0\s*$/i.test(a)) || value === ''
      if (gone) this.jar.delete(name)
      else this.jar.set(name, value)
    }
    return resp
  }

  post(url, fields) {
    return this.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    })
  }
}

/** Follows our own redirects, signs in, answers the consent page with `decision`, and stops at
 * the redirect to the client's redirect URI (which need not exist). `o` holds `issuer`,
 * `redirectUri`, `email` and `password`; `seen` collects the steps (`login page`, …). */
export async function browseToCallback(start, o, seen, decision = 'allow') {
  const browser = new Browser()
  let url = start.href
  let resp = await browser.request(url)
  for (let i = 0; i < 12; i++) {
    if ([301, 302, 303, 307, 308].includes(resp.status)) {
      const location = new URL(resp.headers.get('location'), url).href
      seen.push(`${resp.status} -> ${new URL(location).pathname}`)
      if (location.startsWith(o.redirectUri)) return location
      check(location.startsWith(`${o.issuer}/`), `redirected off the server to ${location}`)
      url = location
      resp = await browser.request(url)
      continue
    }
    const html = await resp.text()
    check(resp.status === 200, `unexpected status ${resp.status} at ${url}: ${html.slice(0, 300)}`)
    const forms = formsOf(html).filter((f) => f.method === 'post')
    const login = forms.find((f) => f.action === '/login')
    const consent = forms.find((f) => f.action === '/oauth2/consent')
    const hidden = (f) => f.inputs.filter((i) => i.type === 'hidden' && i.name).map((i) => [i.name, i.value ?? ''])
    if (login) {
      seen.push('login page')
      const fields = hidden(login)
      check(fields.some(([n]) => n === 'next'), 'the sign-in form does not carry the authorization request (next)')
      url = new URL(login.action, url).href
      resp = await browser.post(url, [...fields, ['email', o.email], ['password', o.password]])
    } else if (consent) {
      seen.push('consent page')
      check(consent.buttons.some((b) => b.name === 'decision' && b.value === decision), `no ${decision} button`)
      url = new URL(consent.action, url).href
      resp = await browser.post(url, [...hidden(consent), ['decision', decision]])
    } else {
      throw new Failed(`a page with neither a sign-in nor a consent form at ${url}: ${html.slice(0, 300)}`)
    }
  }
  throw new Failed('too many steps before reaching the redirect URI')
}

// Gatehouse passkeys (WebAuthn): the page side of the ceremonies. Served from our origin
// (the CSP allows no inline script); everything it shows is set as text, never as HTML.
//
// - Sign-in page: "Sign in with a passkey" (a discoverable credential; no email typed), and
//   passkey autofill in the email field where the browser offers conditional mediation.
// - Second-step page: "Use a passkey".
// - Two-step account page: "Add a passkey" (and the recovery codes, shown once, when it is the
//   account's first second factor).
"use strict";
(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return; // The buttons stay hidden; codes and passwords still work.
  }

  function toB64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let s = "";
    for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function fromB64url(text) {
    const s = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
    const bytes = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
    return bytes.buffer;
  }

  function csrfToken() {
    const input = document.querySelector('input[name="csrf_token"]');
    return input ? input.value : "";
  }

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Gatehouse-CSRF": csrfToken() },
      body: JSON.stringify(body || {}),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const text = data && typeof data.error_description === "string" ? data.error_description : "";
      throw new Error(text || "The request failed (" + response.status + ").");
    }
    return data;
  }

  function showError(message) {
    const box = document.getElementById("passkey-error");
    if (box) {
      box.textContent = message;
      box.hidden = false;
    }
  }

  function clearError() {
    const box = document.getElementById("passkey-error");
    if (box) box.hidden = true;
  }

  function describe(err) {
    if (err && err.name === "NotAllowedError") return "The passkey request was cancelled or timed out.";
    if (err && err.name === "InvalidStateError") return "This passkey is registered already.";
    return (err && err.message) || "Something went wrong.";
  }

  // Creation options: the binary fields as ArrayBuffers.
  function creationOptions(options) {
    const pk = options.publicKey;
    pk.challenge = fromB64url(pk.challenge);
    pk.user.id = fromB64url(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) {
      c.id = fromB64url(c.id);
    });
    return pk;
  }

  function requestOptions(options) {
    const pk = options.publicKey;
    pk.challenge = fromB64url(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) {
      c.id = fromB64url(c.id);
    });
    return pk;
  }

  function registrationJson(cred) {
    const transports = cred.response.getTransports ? cred.response.getTransports() : [];
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: {
        clientDataJSON: toB64url(cred.response.clientDataJSON),
        attestationObject: toB64url(cred.response.attestationObject),
        transports: transports,
      },
      extensions: cred.getClientExtensionResults(),
    };
  }

  function assertionJson(cred) {
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: {
        clientDataJSON: toB64url(cred.response.clientDataJSON),
        authenticatorData: toB64url(cred.response.authenticatorData),
        signature: toB64url(cred.response.signature),
        userHandle: cred.response.userHandle ? toB64url(cred.response.userHandle) : null,
      },
      extensions: cred.getClientExtensionResults(),
    };
  }

  function show(id) {
    const el = document.getElementById(id);
    if (el) el.hidden = false;
    return el;
  }

  // --- Sign-in page: passwordless --------------------------------------------------------
  let autofill = null; // The AbortController of a pending conditional request.

  async function signIn(mediation) {
    const start = await post("/login/passkey/start");
    const publicKey = requestOptions(start.options);
    const request = { publicKey: publicKey };
    if (mediation === "conditional") {
      autofill = new AbortController();
      request.mediation = "conditional";
      request.signal = autofill.signal;
    }
    const cred = await navigator.credentials.get(request);
    const nextInput = document.querySelector('input[name="next"]');
    const done = await post("/login/passkey/finish", {
      ceremony: start.ceremony,
      credential: assertionJson(cred),
      next: nextInput ? nextInput.value : null,
    });
    window.location.assign(done.redirect);
  }

  const signInSection = document.getElementById("passkey-sign-in");
  if (signInSection) {
    signInSection.hidden = false;
    document.getElementById("passkey-sign-in-button").addEventListener("click", function () {
      clearError();
      if (autofill) autofill.abort();
      signIn("modal").catch(function (err) {
        showError(describe(err));
      });
    });
    if (PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (available) {
          signIn("conditional").catch(function (err) {
            if (err && err.name !== "AbortError") showError(describe(err));
          });
        }
      });
    }
  }

  // --- Second step of a sign-in -----------------------------------------------------------
  const secondButton = document.getElementById("passkey-second-factor");
  if (secondButton) {
    show("passkey-second-factor-section");
    secondButton.addEventListener("click", function () {
      clearError();
      (async function () {
        const start = await post("/login/mfa/passkey/start");
        const cred = await navigator.credentials.get({ publicKey: requestOptions(start.options) });
        const done = await post("/login/mfa/passkey/finish", {
          ceremony: start.ceremony,
          credential: assertionJson(cred),
        });
        window.location.assign(done.redirect);
      })().catch(function (err) {
        showError(describe(err));
      });
    });
  }

  // --- Account page: register -------------------------------------------------------------
  const registerForm = document.getElementById("passkey-register");
  if (registerForm) {
    show("passkey-register-section");
    registerForm.addEventListener("submit", function (event) {
      event.preventDefault();
      clearError();
      const name = document.getElementById("passkey-name").value;
      const passwordInput = document.getElementById("passkey-password");
      (async function () {
        const body = passwordInput ? { name: name, password: passwordInput.value } : { name: name };
        const start = await post("/account/passkeys/register/start", body);
        const cred = await navigator.credentials.create({ publicKey: creationOptions(start.options) });
        const done = await post("/account/passkeys/register/finish", {
          ceremony: start.ceremony,
          name: name,
          credential: registrationJson(cred),
        });
        if (done.recovery_codes) {
          const list = document.getElementById("passkey-codes-list");
          done.recovery_codes.forEach(function (code) {
            const item = document.createElement("li");
            item.textContent = code;
            list.appendChild(item);
          });
          registerForm.hidden = true;
          const none = document.getElementById("passkey-none");
          if (none) none.hidden = true;
          const heading = document.getElementById("passkey-add-heading");
          if (heading) heading.hidden = true;
          show("passkey-codes");
        } else {
          window.location.assign("/account/mfa?notice=passkey_added");
        }
      })().catch(function (err) {
        showError(describe(err));
      });
    });
  }
})();

// monban's one script: passkeys (WebAuthn) on the pages that offer them.
// A form marked data-passkey="get" (sign in, second factor) or "create"
// (a new passkey on /account) asks its data-options URL for the ceremony's
// options, runs it in the browser, puts the credential in the form's
// `credential` field and submits the form. Without this script, or without
// WebAuthn, those forms stay hidden and every page works with a password.
"use strict";
(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }

  function decode(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "===".slice((base64.length + 3) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
  }

  function encode(buffer) {
    let text = "";
    for (const byte of new Uint8Array(buffer)) {
      text += String.fromCharCode(byte);
    }
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(json) {
    const options = json.publicKey;
    options.challenge = decode(options.challenge);
    options.user.id = decode(options.user.id);
    for (const c of options.excludeCredentials || []) {
      c.id = decode(c.id);
    }
    return options;
  }

  function requestOptions(json) {
    const options = json.publicKey;
    options.challenge = decode(options.challenge);
    for (const c of options.allowCredentials || []) {
      c.id = decode(c.id);
    }
    return options;
  }

  // The credential as webauthn-rs reads it (base64url without padding).
  function credentialJson(credential) {
    const r = credential.response;
    const response = { clientDataJSON: encode(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = encode(r.attestationObject);
      if (r.getTransports) {
        response.transports = r.getTransports();
      }
    } else {
      response.authenticatorData = encode(r.authenticatorData);
      response.signature = encode(r.signature);
      response.userHandle = r.userHandle ? encode(r.userHandle) : null;
    }
    return JSON.stringify({
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      response: response,
      extensions: credential.getClientExtensionResults(),
    });
  }

  // The form's fields (its CSRF token, request id, password, name) ask for
  // the options; an answer that is not JSON (a refusal) is shown.
  async function fetchOptions(form) {
    const body = new URLSearchParams(new FormData(form));
    body.delete("credential");
    const response = await fetch(form.dataset.options, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    const json = await response.json();
    if (!response.ok) {
      throw new Error(json.error_description || json.error || "refused");
    }
    return json;
  }

  function show(form, message) {
    let alert = form.querySelector(".alert");
    if (!alert) {
      alert = document.createElement("p");
      alert.className = "alert";
      alert.setAttribute("role", "alert");
      form.prepend(alert);
    }
    alert.textContent = message;
  }

  function submit(form, credential) {
    form.elements.credential.value = credentialJson(credential);
    form.submit();
  }

  let conditional = null;

  async function run(form) {
    if (conditional) {
      conditional.abort();
      conditional = null;
    }
    try {
      const json = await fetchOptions(form);
      const credential =
        form.dataset.passkey === "create"
          ? await navigator.credentials.create({ publicKey: creationOptions(json) })
          : await navigator.credentials.get({ publicKey: requestOptions(json) });
      if (credential) {
        submit(form, credential);
      }
    } catch (e) {
      show(form, form.dataset.failed || e.message);
    }
  }

  // The username field offers passkeys as it is filled in (conditional
  // mediation), where the browser can.
  async function offerInAutofill(form) {
    if (!PublicKeyCredential.isConditionalMediationAvailable) {
      return;
    }
    if (!(await PublicKeyCredential.isConditionalMediationAvailable())) {
      return;
    }
    conditional = new AbortController();
    try {
      const json = await fetchOptions(form);
      const credential = await navigator.credentials.get({
        publicKey: requestOptions(json),
        mediation: "conditional",
        signal: conditional.signal,
      });
      if (credential) {
        submit(form, credential);
      }
    } catch (e) {
      // Aborted for the button, or dismissed: nothing to say.
    }
  }

  for (const form of document.querySelectorAll("form[data-passkey]")) {
    form.hidden = false;
    form.addEventListener("submit", (event) => {
      if (form.elements.credential.value === "") {
        event.preventDefault();
        run(form);
      }
    });
    if (form.dataset.autofill === "true") {
      offerInAutofill(form);
    }
  }
})();

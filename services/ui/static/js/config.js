// The store's settings for the page, from the ui service: whether shoppers can sign in, and
// at which issuer. Read once per page load.

import { request } from "./api.js";

let settings = null;

/** {signIn: {authorizeUrl, tokenUrl, clientId} or null}. */
export function loadConfig() {
  // Not tied to one page's requests: another page may be waiting for the same answer.
  settings ??= request("GET", "/config.json").catch((error) => {
    settings = null; // a failure is not kept: the next page asks again
    throw error;
  });
  return settings;
}

/**
 * A User-Agent header as a short name people read ("Chrome on Linux"), for
 * the Account page's signed-in devices and the audit log. Only names from the
 * lists below come out, never any part of the header itself, so the result
 * is safe wherever it is shown. Browsers spoof one another's tokens (every
 * Chromium browser says "Chrome" and "Safari", Chrome on iOS says "Safari"),
 * so the more specific tokens are looked for first.
 */

/** What is kept of the header: enough to name the browser again, bounded whatever a client sends. */
export const USER_AGENT_MAX = 256;

const BROWSERS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\bEdg(?:e|A|iOS)?\//, 'Edge'],
  [/\bOPR\/|\bOpera\b/, 'Opera'],
  [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\bVivaldi\//, 'Vivaldi'],
  [/\bFirefox\/|\bFxiOS\//, 'Firefox'],
  [/\bCriOS\/|\b(?:Headless)?Chrome\/|\bChromium\//, 'Chrome'],
  [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
  [/^curl\//, 'curl'],
];

const SYSTEMS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\bWindows\b/, 'Windows'],
  [/\biPhone\b|\biPod\b/, 'iOS'],
  [/\biPad\b/, 'iPadOS'],
  [/\bAndroid\b/, 'Android'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bLinux\b|\bX11\b/, 'Linux'],
];

function first(list: ReadonlyArray<readonly [RegExp, string]>, header: string): string | undefined {
  return list.find(([pattern]) => pattern.test(header))?.[1];
}

/** "Chrome on Linux", "Firefox", "Unknown browser on Windows", or "Unknown browser". */
export function browserName(header: string | null | undefined): string {
  if (!header) return 'Unknown browser';
  const browser = first(BROWSERS, header) ?? 'Unknown browser';
  const system = first(SYSTEMS, header);
  return system ? `${browser} on ${system}` : browser;
}

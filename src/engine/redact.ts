// Secrets never reach a manifest, output or log line: values of secret-looking environment variables are masked.

/** Replace any value of a secret-looking environment variable wherever it appears. */
export function redactSecrets<T>(value: T): T {
  const secrets = Object.entries(process.env)
    .filter(([name, v]) => /KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL/i.test(name) && typeof v === 'string' && v.length >= 6)
    .map(([, v]) => v as string);
  if (secrets.length === 0) return value;
  let text = JSON.stringify(value);
  for (const secret of secrets) text = text.split(JSON.stringify(secret).slice(1, -1)).join('***');
  return JSON.parse(text) as T;
}

-- App credentials: the stored form is now marked (`plain:` or `v1:KEY_ID:NONCE:CIPHERTEXT`, see
-- crates/store/src/crypto.rs), so existing plain-text secrets get the `plain:` mark, to be
-- sealed by `tenure keys rotate` once a master key is configured. `auth` holds how the app is
-- authenticated, without its secret: NULL for a static bearer token, JSON for OAuth 2.0 client
-- credentials (token URL, client id, scope).
UPDATE apps SET secret = 'plain:' || secret;
ALTER TABLE apps ADD COLUMN auth TEXT;

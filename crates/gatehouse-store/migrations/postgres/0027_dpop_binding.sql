-- DPoP (RFC 9449), second part.
-- §10: an authorization code bound to the key with this JWK SHA-256 thumbprint (the
-- authorization request's `dpop_jkt`); NULL: not bound.
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT COLLATE "C" NULL
    CHECK (dpop_jkt IS NULL OR length(dpop_jkt) = 43);

-- §5.2 client metadata `dpop_bound_access_tokens`: the token endpoint refuses this client's
-- requests without a DPoP proof.
ALTER TABLE oauth_clients ADD COLUMN dpop_bound_access_tokens BOOLEAN NOT NULL DEFAULT FALSE;

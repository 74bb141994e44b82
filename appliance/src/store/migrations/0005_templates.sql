-- A tenant's own device-file templates, one per vendor (docs/provisioning.md, "Templates").
-- Part of the site config: written and read with the rest of the document, gone with its tenant.
CREATE TABLE tenant_templates (
    tenant_id  INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    vendor     TEXT NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, vendor)
);

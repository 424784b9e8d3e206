-- The access model: custom roles, groups, customers, entities and admin scopes.
-- Every link table carries the organization and references (id, org_id) pairs, so the
-- database itself refuses a link between two organizations' rows.
CREATE UNIQUE INDEX memberships_id_org ON memberships (id, org_id);

CREATE TABLE roles (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations (id),
    name             TEXT NOT NULL,
    name_key         TEXT NOT NULL,
    description      TEXT,
    -- JSON array of permission codes from the catalog.
    permissions      TEXT NOT NULL,
    customer_scoped  INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (id, org_id)
) STRICT;
CREATE UNIQUE INDEX roles_name ON roles (org_id, name_key);

CREATE TABLE membership_custom_roles (
    membership_id  TEXT NOT NULL,
    org_id         TEXT NOT NULL,
    role_id        TEXT NOT NULL,
    PRIMARY KEY (membership_id, role_id),
    FOREIGN KEY (membership_id, org_id) REFERENCES memberships (id, org_id),
    FOREIGN KEY (role_id, org_id) REFERENCES roles (id, org_id)
) STRICT;
CREATE INDEX membership_custom_roles_role ON membership_custom_roles (role_id);

CREATE TABLE member_groups (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations (id),
    name         TEXT NOT NULL,
    name_key     TEXT NOT NULL,
    description  TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (id, org_id)
) STRICT;
CREATE UNIQUE INDEX member_groups_name ON member_groups (org_id, name_key);

-- A group grants built-in roles User and Marketing, or custom roles: one of the two
-- columns per row.
CREATE TABLE group_roles (
    group_id  TEXT NOT NULL,
    org_id    TEXT NOT NULL,
    builtin   TEXT CHECK (builtin IN ('user', 'marketing')),
    role_id   TEXT,
    CHECK ((builtin IS NULL) <> (role_id IS NULL)),
    FOREIGN KEY (group_id, org_id) REFERENCES member_groups (id, org_id),
    FOREIGN KEY (role_id, org_id) REFERENCES roles (id, org_id)
) STRICT;
CREATE UNIQUE INDEX group_roles_builtin ON group_roles (group_id, builtin);
CREATE UNIQUE INDEX group_roles_custom ON group_roles (group_id, role_id);
CREATE INDEX group_roles_role ON group_roles (role_id);

CREATE TABLE group_members (
    group_id       TEXT NOT NULL,
    org_id         TEXT NOT NULL,
    membership_id  TEXT NOT NULL,
    PRIMARY KEY (membership_id, group_id),
    FOREIGN KEY (group_id, org_id) REFERENCES member_groups (id, org_id),
    FOREIGN KEY (membership_id, org_id) REFERENCES memberships (id, org_id)
) STRICT;
CREATE INDEX group_members_group ON group_members (group_id);

CREATE TABLE customers (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations (id),
    name         TEXT NOT NULL,
    external_id  TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (id, org_id)
) STRICT;
CREATE INDEX customers_org_id ON customers (org_id, id);
CREATE UNIQUE INDEX customers_external ON customers (org_id, external_id) WHERE external_id IS NOT NULL;

CREATE TABLE customer_assignments (
    membership_id  TEXT NOT NULL,
    org_id         TEXT NOT NULL,
    customer_id    TEXT NOT NULL,
    PRIMARY KEY (membership_id, customer_id),
    FOREIGN KEY (membership_id, org_id) REFERENCES memberships (id, org_id),
    FOREIGN KEY (customer_id, org_id) REFERENCES customers (id, org_id)
) STRICT;
CREATE INDEX customer_assignments_customer ON customer_assignments (customer_id);

CREATE TABLE entities (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (id, org_id)
) STRICT;
CREATE UNIQUE INDEX entities_name ON entities (org_id, name_key);

-- A membership's one entity.
CREATE TABLE membership_entities (
    membership_id  TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL,
    entity_id      TEXT NOT NULL,
    FOREIGN KEY (membership_id, org_id) REFERENCES memberships (id, org_id),
    FOREIGN KEY (entity_id, org_id) REFERENCES entities (id, org_id)
) STRICT;
CREATE INDEX membership_entities_entity ON membership_entities (entity_id);

-- An admin's scope: the entities whose members they manage. None: the whole organization.
CREATE TABLE admin_scopes (
    membership_id  TEXT NOT NULL,
    org_id         TEXT NOT NULL,
    entity_id      TEXT NOT NULL,
    PRIMARY KEY (membership_id, entity_id),
    FOREIGN KEY (membership_id, org_id) REFERENCES memberships (id, org_id),
    FOREIGN KEY (entity_id, org_id) REFERENCES entities (id, org_id)
) STRICT;
CREATE INDEX admin_scopes_entity ON admin_scopes (entity_id);

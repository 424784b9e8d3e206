-- Tasks posted by host products, the organization's task categories, each membership's
-- notification settings and digest schedule, and the record of digests handled.

-- Notification settings live on the membership: one row each, nothing to create on invite.
-- digest_categories NULL means every category; digest_next_at NULL means plan it.
ALTER TABLE memberships ADD COLUMN digest_frequency TEXT NOT NULL DEFAULT 'weekly'
    CHECK (digest_frequency IN ('daily', 'weekly'));
ALTER TABLE memberships ADD COLUMN digest_categories TEXT[];
ALTER TABLE memberships ADD COLUMN digest_next_at TIMESTAMPTZ;
CREATE INDEX memberships_digest_next ON memberships (digest_next_at);

CREATE TABLE task_categories (
    org_id      UUID NOT NULL REFERENCES organizations (id),
    key         TEXT NOT NULL,
    label       TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, key)
);

-- A task about a customer goes with the customer; the composite keys keep a task, its
-- customer and its assignee in one organization.
CREATE TABLE tasks (
    id           UUID PRIMARY KEY,
    org_id       UUID NOT NULL REFERENCES organizations (id),
    category     TEXT NOT NULL,
    title        TEXT NOT NULL,
    url          TEXT,
    customer_id  UUID,
    assignee_id  UUID,
    status       TEXT NOT NULL CHECK (status IN ('open', 'done')),
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    closed_at    TIMESTAMPTZ,
    FOREIGN KEY (org_id, category) REFERENCES task_categories (org_id, key),
    FOREIGN KEY (customer_id, org_id) REFERENCES customers (id, org_id) ON DELETE CASCADE,
    FOREIGN KEY (assignee_id, org_id) REFERENCES memberships (id, org_id)
);
CREATE INDEX tasks_org_status ON tasks (org_id, status, id);
CREATE INDEX tasks_customer ON tasks (customer_id);
CREATE INDEX tasks_assignee ON tasks (assignee_id);

-- One row per membership and period that sent a digest: a lost race or a restart never
-- sends that period twice. Rows older than a few weeks are pruned (created_at).
CREATE TABLE digests (
    membership_id  UUID NOT NULL REFERENCES memberships (id),
    period         TEXT NOT NULL,
    org_id         UUID NOT NULL REFERENCES organizations (id),
    task_count     INTEGER NOT NULL,
    outbox_id      UUID,
    created_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (membership_id, period)
);
CREATE INDEX digests_created ON digests (created_at);

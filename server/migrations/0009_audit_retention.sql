-- Security events are kept `--audit-days` (default 400) and then deleted by the minute's
-- sweep; it finds them by age. The relying parties' call log (kept 30 days) likewise.
CREATE INDEX audit_at ON audit(at);
CREATE INDEX rp_audit_at ON rp_audit(at_ms);

//! Call detail records: one row per call, written in one transaction when the call ends, read
//! back with filters for the API and its CSV export.

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter};

use super::{Store, StoreError};
use crate::sip::b2bua::cdr::{CallRecord, Disposition};

/// Which records to list; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct CdrFilter {
    pub tenant: Option<String>,
    /// Caller or callee.
    pub extension: Option<String>,
    /// Caller, callee or the number dialled: every call an extension made, took, or was asked
    /// for and forwarded elsewhere (the portal's history of one extension).
    pub party: Option<String>,
    /// Calls started at or after / before these Unix times.
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub disposition: Option<Disposition>,
    pub limit: usize,
    /// Records skipped first, newest first (the web UI's pages of calls).
    pub offset: usize,
}

impl Store {
    /// Calls started at or after `since`, counted per hour: (the hour's start, Unix seconds,
    /// on the hour; calls), oldest first, hours without calls left out. A call is here once it
    /// has ended (its record is written then).
    pub fn calls_per_hour(&self, since: i64) -> Result<Vec<(i64, u32)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT start - start % 3600 AS hour, COUNT(*) FROM cdrs WHERE start >= ?1 GROUP BY hour ORDER BY hour",
        )?;
        let rows = stmt.query_map(params![since], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn insert_cdr(&self, r: &CallRecord) -> Result<(), StoreError> {
        let media = r.media.as_ref().map(serde_json::Value::to_string);
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO cdrs (call, tenant, caller, callee, dialled, start, answer, end, duration, disposition,
                               status, hangup, legs, route, media, trunk)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            params![
                r.call,
                r.tenant,
                r.caller,
                r.callee,
                r.dialled,
                r.start,
                r.answer,
                r.end,
                r.duration,
                r.disposition.as_str(),
                r.status,
                r.hangup,
                r.legs,
                r.route,
                media,
                r.trunk
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records matching `f`, newest first.
    pub fn cdrs(&self, f: &CdrFilter) -> Result<Vec<CallRecord>, StoreError> {
        let mut sql = String::from(
            "SELECT call, tenant, caller, callee, dialled, start, answer, end, duration, disposition, status, hangup,
                    legs, route, media, trunk FROM cdrs WHERE 1 = 1",
        );
        let mut args: Vec<Value> = Vec::new();
        if let Some(t) = &f.tenant {
            sql.push_str(" AND tenant = ?");
            args.push(Value::Text(t.clone()));
        }
        if let Some(x) = &f.extension {
            sql.push_str(" AND (caller = ? OR callee = ?)");
            args.push(Value::Text(x.clone()));
            args.push(Value::Text(x.clone()));
        }
        if let Some(x) = &f.party {
            sql.push_str(" AND (caller = ? OR callee = ? OR dialled = ?)");
            args.extend([Value::Text(x.clone()), Value::Text(x.clone()), Value::Text(x.clone())]);
        }
        if let Some(s) = f.since {
            sql.push_str(" AND start >= ?");
            args.push(Value::Integer(s));
        }
        if let Some(u) = f.until {
            sql.push_str(" AND start < ?");
            args.push(Value::Integer(u));
        }
        if let Some(d) = f.disposition {
            sql.push_str(" AND disposition = ?");
            args.push(Value::Text(d.as_str().to_owned()));
        }
        sql.push_str(" ORDER BY start DESC, id DESC LIMIT ? OFFSET ?");
        args.push(Value::Integer(i64::try_from(f.limit.clamp(1, 100_000)).unwrap_or(1000)));
        args.push(Value::Integer(i64::try_from(f.offset).unwrap_or(i64::MAX)));
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?),
                (r.get::<_, String>(4)?, r.get::<_, i64>(5)?, r.get::<_, Option<i64>>(6)?, r.get::<_, i64>(7)?),
                (r.get::<_, i64>(8)?, r.get::<_, String>(9)?, r.get::<_, Option<u16>>(10)?, r.get::<_, String>(11)?),
                (
                    r.get::<_, u32>(12)?,
                    r.get::<_, String>(13)?,
                    r.get::<_, Option<String>>(14)?,
                    r.get::<_, Option<String>>(15)?,
                ),
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let ((call, tenant, caller, callee), (dialled, start, answer, end), (duration, d, status, hangup), rest) =
                row?;
            let (legs, route, media, trunk) = rest;
            let disposition =
                Disposition::parse(&d).ok_or_else(|| StoreError::Corrupt(format!("CDR disposition `{d}`")))?;
            let media = media.and_then(|m| serde_json::from_str(&m).ok());
            out.push(CallRecord {
                call,
                tenant,
                caller,
                callee,
                dialled,
                start,
                answer,
                end,
                duration,
                disposition,
                status,
                hangup,
                legs,
                route,
                media,
                trunk,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SecretBox;

    fn record(call: &str, caller: &str, start: i64, disposition: Disposition) -> CallRecord {
        CallRecord {
            call: call.into(),
            tenant: "acme".into(),
            caller: caller.into(),
            callee: "102".into(),
            dialled: "102".into(),
            start,
            answer: Some(start + 2),
            end: start + 10,
            duration: 8,
            disposition,
            status: None,
            hangup: "caller".into(),
            legs: 1,
            route: "extension 102".into(),
            media: Some(serde_json::json!({"a": {"packets_in": 5}})),
            trunk: None,
        }
    }

    #[test]
    fn calls_are_counted_per_hour_since_a_time() {
        let store = Store::open_in_memory(SecretBox::from_key(&[7; 32])).unwrap();
        for (call, start) in [("1", 3600 - 1), ("2", 3600), ("3", 2 * 3600 - 1), ("4", 5 * 3600 + 7)] {
            store.insert_cdr(&record(call, "101", start, Disposition::Answered)).unwrap();
        }
        assert_eq!(store.calls_per_hour(0).unwrap(), [(0, 1), (3600, 2), (5 * 3600, 1)]);
        assert_eq!(store.calls_per_hour(3600).unwrap(), [(3600, 2), (5 * 3600, 1)]);
        assert!(store.calls_per_hour(6 * 3600).unwrap().is_empty());
    }

    #[test]
    fn records_are_stored_and_filtered() {
        let store = Store::open_in_memory(SecretBox::from_key(&[7; 32])).unwrap();
        store.insert_cdr(&record("1", "101", 100, Disposition::Answered)).unwrap();
        store.insert_cdr(&record("2", "103", 200, Disposition::Busy)).unwrap();
        let all = store.cdrs(&CdrFilter { limit: 10, ..CdrFilter::default() }).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].call, "2", "newest first");
        assert_eq!(all[1], record("1", "101", 100, Disposition::Answered), "round trip");
        let busy = CdrFilter { disposition: Some(Disposition::Busy), limit: 10, ..CdrFilter::default() };
        assert_eq!(store.cdrs(&busy).unwrap().len(), 1);
        let ext = CdrFilter {
            extension: Some("101".into()),
            since: Some(50),
            until: Some(150),
            limit: 10,
            ..CdrFilter::default()
        };
        assert_eq!(store.cdrs(&ext).unwrap().len(), 1);
        // 102 was dialled in both calls and answered both: as a party it took part in both;
        // a call dialled to 102 but answered by 103 belongs to 102 too.
        let mut forwarded = record("3", "101", 300, Disposition::Answered);
        forwarded.callee = "103".into();
        store.insert_cdr(&forwarded).unwrap();
        let party = |x: &str| CdrFilter { party: Some(x.into()), limit: 10, ..CdrFilter::default() };
        assert_eq!(store.cdrs(&party("102")).unwrap().len(), 3);
        let theirs = CdrFilter { extension: Some("102".into()), limit: 10, ..CdrFilter::default() };
        assert_eq!(store.cdrs(&theirs).unwrap().len(), 2, "`extension` is caller or callee only");
        let other = CdrFilter { tenant: Some("bright".into()), limit: 10, ..CdrFilter::default() };
        assert!(store.cdrs(&other).unwrap().is_empty());
        let page = |offset| CdrFilter { limit: 2, offset, ..CdrFilter::default() };
        let calls = |f| store.cdrs(&f).unwrap().into_iter().map(|r| r.call).collect::<Vec<_>>();
        assert_eq!(calls(page(0)), ["3", "2"], "the first page, newest first");
        assert_eq!(calls(page(2)), ["1"], "the next page");
        assert!(calls(page(3)).is_empty());
    }
}

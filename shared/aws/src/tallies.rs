//! Tallies live in the `usage` table, partition `tally#<name>#<day>`, one item per member
//! (`sk`): putting it again changes nothing, and a day's count is its partition's size.

use crate::Aws;
use crate::dynamo::{query_all, s, sdk};
use aws_sdk_dynamodb::types::Select;
use serde::Deserialize;
use std::collections::HashSet;
use tollgate_app::ports::tallies::{Tallies, TalliesError, Tally};

fn partition(tally: Tally, day: &str) -> String {
    format!("tally#{}#{day}", tally.as_str())
}

impl Aws {
    fn tally_query(&self, tally: Tally, day: &str) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.dynamo
            .query()
            .table_name(&self.resources.usage_table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(partition(tally, day)))
    }
}

impl Tallies for Aws {
    async fn tally(&self, tally: Tally, day: &str, member: &str) -> Result<(), TalliesError> {
        self.dynamo
            .put_item()
            .table_name(&self.resources.usage_table)
            .item("pk", s(partition(tally, day)))
            .item("sk", s(member))
            .send()
            .await
            .map(drop)
            .map_err(|e| TalliesError(sdk(e)))
    }

    async fn tally_counts(&self, tally: Tally, days: &[String]) -> Result<Vec<u64>, TalliesError> {
        let mut counts = Vec::with_capacity(days.len());
        for day in days {
            let (mut count, mut start) = (0_u64, None);
            loop {
                let page = self
                    .tally_query(tally, day)
                    .select(Select::Count)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| TalliesError(sdk(e)))?;
                count = count.saturating_add(u64::try_from(page.count).unwrap_or(0));
                start = page.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
            counts.push(count);
        }
        Ok(counts)
    }

    async fn tally_distinct(&self, tally: Tally, days: &[String]) -> Result<u64, TalliesError> {
        #[derive(Deserialize)]
        struct Member {
            sk: String,
        }
        let mut members = HashSet::new();
        for day in days {
            let query = self.tally_query(tally, day).projection_expression("sk");
            let page: Vec<Member> = query_all(query).await.map_err(TalliesError)?;
            members.extend(page.into_iter().map(|member| member.sk));
        }
        Ok(u64::try_from(members.len()).unwrap_or(u64::MAX))
    }
}

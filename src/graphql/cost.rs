//! A query's cost and depth, computed from the document and variables
//! before anything runs (DESIGN.md "Limits"): every field costs 1; a
//! connection multiplies what it selects by its `first` (default 20), at
//! every level, aliases counted. Depth counts the API's own fields only;
//! introspection (`__schema`, `__type`) is free of depth but may not nest
//! its type lists, the one way an introspection query grows exponentially.

use std::collections::HashMap;

use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, FragmentDefinition, OperationDefinition,
    Selection, SelectionSet, TypeKind, TypeSystemDefinition,
};
use async_graphql::{Name, Positioned, Value, Variables};

use super::connection::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

/// Introspection fields that list types' members; one inside another is
/// what makes `fields { type { fields { type … } } }` explode.
const INTROSPECTION_LISTS: [&str; 4] = ["fields", "inputFields", "interfaces", "possibleTypes"];
/// graphql-js's and GraphiQL's standard query nest them once.
const MAX_INTROSPECTION_NESTING: u32 = 2;

/// What the cost walk needs to know of one field of the schema.
#[derive(Debug, Clone)]
struct FieldShape {
    /// The named type it returns, lists and non-null stripped.
    returns: String,
    connection: bool,
}

/// The schema reduced to field shapes, built once from its SDL.
#[derive(Debug, Default)]
pub struct CostModel {
    fields: HashMap<(String, String), FieldShape>,
}

/// What a document asks for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Measure {
    pub cost: u64,
    pub depth: u32,
    /// Selects `__schema` or `__type`.
    pub introspects: bool,
}

/// Why a document is refused before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TooComplex {
    Cost { cost: u64, max: u64 },
    Depth { depth: u32, max: u32 },
    IntrospectionNesting,
}

impl std::fmt::Display for TooComplex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TooComplex::Cost { cost, max } => write!(
                f,
                "query cost {cost} is above the maximum of {max} (every field costs 1, a connection multiplies what it selects by its first)"
            ),
            TooComplex::Depth { depth, max } => {
                write!(f, "query depth {depth} is above the maximum of {max}")
            }
            TooComplex::IntrospectionNesting => write!(
                f,
                "introspection may not nest fields, inputFields, interfaces or possibleTypes more than {MAX_INTROSPECTION_NESTING} deep"
            ),
        }
    }
}

impl CostModel {
    /// Reads the object and interface fields of `sdl`; a field whose type
    /// is named `…Connection` is a connection.
    pub fn from_sdl(sdl: &str) -> Self {
        let mut fields = HashMap::new();
        let doc = async_graphql::parser::parse_schema(sdl).expect("our own SDL parses");
        for def in doc.definitions {
            let TypeSystemDefinition::Type(ty) = def else {
                continue;
            };
            let members = match &ty.node.kind {
                TypeKind::Object(o) => &o.fields,
                TypeKind::Interface(i) => &i.fields,
                _ => continue,
            };
            for field in members {
                let mut base = &field.node.ty.node.base;
                while let BaseType::List(inner) = base {
                    base = &inner.base;
                }
                let BaseType::Named(returns) = base else {
                    unreachable!("lists were stripped");
                };
                fields.insert(
                    (
                        ty.node.name.node.to_string(),
                        field.node.name.node.to_string(),
                    ),
                    FieldShape {
                        connection: returns.ends_with("Connection"),
                        returns: returns.to_string(),
                    },
                );
            }
        }
        Self { fields }
    }

    /// Measures the operation the request selects (by name, or the only
    /// one). `None` when there is no such operation: validation says why.
    pub fn measure(
        &self,
        doc: &ExecutableDocument,
        operation_name: Option<&str>,
        variables: &Variables,
    ) -> Option<Result<Measure, TooComplex>> {
        let op = selected_operation(doc, operation_name)?;
        let root = match op.node.ty {
            async_graphql::parser::types::OperationType::Query => "Query",
            async_graphql::parser::types::OperationType::Mutation => "Mutation",
            async_graphql::parser::types::OperationType::Subscription => "Subscription",
        };
        let mut walk = Walk {
            model: self,
            fragments: &doc.fragments,
            variables,
            operation: &op.node,
            memo: HashMap::new(),
            visiting: Vec::new(),
        };
        Some(walk.selection(root, &op.node.selection_set.node, 0))
    }
}

/// The operation a request runs: the one named, or the only one.
pub fn selected_operation<'d>(
    doc: &'d ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'d Positioned<OperationDefinition>> {
    match (&doc.operations, operation_name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

struct Walk<'a> {
    model: &'a CostModel,
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    variables: &'a Variables,
    operation: &'a OperationDefinition,
    /// A fragment's measure, once (spreads of spreads would otherwise be
    /// walked exponentially often); keyed by introspection nesting too.
    memo: HashMap<(Name, u32), Result<Measure, TooComplex>>,
    /// Fragments being walked: a cycle (invalid, refused by validation) is
    /// not followed.
    visiting: Vec<Name>,
}

impl Walk<'_> {
    /// `nesting`: how many introspection type lists enclose this set; 0
    /// outside introspection… and also at its top (see `field`).
    fn selection(
        &mut self,
        ty: &str,
        set: &SelectionSet,
        nesting: u32,
    ) -> Result<Measure, TooComplex> {
        let mut total = Measure::default();
        for item in &set.items {
            let m = match &item.node {
                Selection::Field(f) => self.field(ty, &f.node, nesting)?,
                Selection::InlineFragment(f) => {
                    let on = f
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(ty, |c| c.node.on.node.as_str());
                    let on = on.to_owned();
                    self.selection(&on, &f.node.selection_set.node, nesting)?
                }
                Selection::FragmentSpread(s) => self.spread(&s.node.fragment_name.node, nesting)?,
            };
            total.cost = total.cost.saturating_add(m.cost);
            total.depth = total.depth.max(m.depth);
            total.introspects |= m.introspects;
        }
        Ok(total)
    }

    fn spread(&mut self, name: &Name, nesting: u32) -> Result<Measure, TooComplex> {
        if let Some(known) = self.memo.get(&(name.clone(), nesting)) {
            return known.clone();
        }
        let Some(fragment) = self.fragments.get(name) else {
            return Ok(Measure::default());
        };
        if self.visiting.contains(name) {
            return Ok(Measure::default());
        }
        self.visiting.push(name.clone());
        let on = fragment.node.type_condition.node.on.node.to_string();
        let measured = self.selection(&on, &fragment.node.selection_set.node, nesting);
        self.visiting.pop();
        self.memo.insert((name.clone(), nesting), measured.clone());
        measured
    }

    fn field(
        &mut self,
        ty: &str,
        field: &async_graphql::parser::types::Field,
        nesting: u32,
    ) -> Result<Measure, TooComplex> {
        let name = field.name.node.as_str();
        let introspecting = nesting > 0 || name == "__schema" || name == "__type";
        if introspecting {
            let nesting = nesting.max(1) + u32::from(INTROSPECTION_LISTS.contains(&name));
            if nesting > MAX_INTROSPECTION_NESTING + 1 {
                return Err(TooComplex::IntrospectionNesting);
            }
            // Introspection types are not in our SDL; nothing there is a
            // connection, so only the nesting and the field count matter.
            let inner = self.selection("", &field.selection_set.node, nesting)?;
            return Ok(Measure {
                cost: inner.cost.saturating_add(1),
                depth: 0,
                introspects: true,
            });
        }
        let shape = self
            .model
            .fields
            .get(&(ty.to_owned(), name.to_owned()))
            .cloned();
        let returns = shape.as_ref().map_or("", |s| s.returns.as_str()).to_owned();
        let inner = self.selection(&returns, &field.selection_set.node, 0)?;
        let factor = if shape.is_some_and(|s| s.connection) {
            self.first(field)
        } else {
            1
        };
        Ok(Measure {
            cost: inner.cost.saturating_mul(factor).saturating_add(1),
            depth: inner.depth + 1,
            introspects: inner.introspects,
        })
    }

    /// A connection's `first`, literal or variable; absent or null is the
    /// default page, and anything out of range counts as the largest page
    /// (the resolver refuses it with a clearer error than the cost could).
    fn first(&self, field: &async_graphql::parser::types::Field) -> u64 {
        let variable = |var: Name| {
            self.variables
                .get(&var)
                .cloned()
                .or_else(|| {
                    self.operation
                        .variable_definitions
                        .iter()
                        .find(|d| d.node.name.node == var)
                        .and_then(|d| d.node.default_value.as_ref().map(|v| v.node.clone()))
                })
                .ok_or(())
        };
        let resolved = field
            .get_argument("first")
            .and_then(|v| v.node.clone().into_const_with(variable).ok());
        match resolved {
            None | Some(Value::Null) => DEFAULT_PAGE_SIZE,
            Some(Value::Number(n)) => n
                .as_u64()
                .filter(|n| *n <= MAX_PAGE_SIZE)
                .unwrap_or(MAX_PAGE_SIZE),
            Some(_) => MAX_PAGE_SIZE,
        }
    }
}

impl Measure {
    /// The limits of DESIGN.md applied to this measure.
    pub fn check(self, max_cost: u64, max_depth: u32) -> Result<Measure, TooComplex> {
        if self.depth > max_depth {
            return Err(TooComplex::Depth {
                depth: self.depth,
                max: max_depth,
            });
        }
        if self.cost > max_cost {
            return Err(TooComplex::Cost {
                cost: self.cost,
                max: max_cost,
            });
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(query: &str, variables: serde_json::Value) -> Result<Measure, TooComplex> {
        let model = CostModel::from_sdl(&crate::graphql::sdl());
        let doc = async_graphql::parser::parse_query(query).unwrap();
        model
            .measure(&doc, None, &Variables::from_json(variables))
            .unwrap()
    }

    #[test]
    fn fields_cost_one_and_connections_multiply_by_first() {
        assert_eq!(
            measure("{ viewer { role } }", serde_json::json!({})),
            Ok(Measure {
                cost: 2,
                depth: 2,
                introspects: false
            })
        );
        // agencies(first: 10) → 10 × (edges + node + slug) + 1
        let m = measure(
            "{ agencies(first: 10) { edges { node { slug } } } }",
            serde_json::json!({}),
        )
        .unwrap();
        assert_eq!(m.cost, 31);
        assert_eq!(m.depth, 4);
        // The default page is 20, a variable counts, aliases count.
        let default = measure("{ agencies { totalCount } }", serde_json::json!({})).unwrap();
        assert_eq!(default.cost, 21);
        let aliased = measure(
            "query($n: Int) { a: agencies(first: $n) { totalCount } b: agencies(first: $n) { totalCount } }",
            serde_json::json!({"n": 3}),
        )
        .unwrap();
        assert_eq!(aliased.cost, 8);
    }

    #[test]
    fn nested_connections_multiply_at_every_level() {
        let q = "{ agencies(first: 100) { edges { node { members(first: 100) { edges { node { invitations(first: 100) { totalCount } } } } } } } }";
        let m = measure(q, serde_json::json!({})).unwrap();
        assert!(m.cost > 1_000_000, "{m:?}");
        assert!(m.check(5000, 12).is_err());
    }

    #[test]
    fn fragments_count_and_cannot_explode_the_walk() {
        // Each fragment spreads the next twice: 2^30 expansions if walked
        // naively, measured at once thanks to the memo.
        let mut q = String::from("{ viewer { ...F0 } }\n");
        for i in 0..30 {
            q.push_str(&format!(
                "fragment F{i} on Viewer {{ ...F{} ...F{} }}\n",
                i + 1,
                i + 1
            ));
        }
        q.push_str("fragment F30 on Viewer { role }\n");
        let m = measure(&q, serde_json::json!({})).unwrap();
        assert_eq!(m.cost, 1 + (1 << 30));
    }

    #[test]
    fn introspection_is_free_of_depth_but_not_of_nesting() {
        let deep = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } }";
        let m = measure(deep, serde_json::json!({})).unwrap();
        assert_eq!((m.depth, m.introspects), (0, true));
        let exploding =
            "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
        assert_eq!(
            measure(exploding, serde_json::json!({})),
            Err(TooComplex::IntrospectionNesting)
        );
    }
}

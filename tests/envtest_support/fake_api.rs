//! A small fake Kubernetes API server for process-level tests where no kube-apiserver is at
//! hand. It is honest about what it is: objects in memory, list and watch (every change is
//! pushed to open watches), and just enough write semantics for porter — create (409 on a
//! duplicate), replace with `resourceVersion` preconditions (409 on a stale one, as leader
//! election needs), JSON patches (with `test`), merge patches, server-side apply merged
//! field by field (lists of conditions merged by `type`; no field ownership), deletion held
//! by finalizers. Every write is recorded. The envtest tests run the real thing.
//!
//! For fault tests it can also fail on purpose: [`FakeApi::set_outage`] makes it unavailable
//! (every request answered 503 and open watches closed, or every request and watch left
//! hanging until the outage ends), [`FakeApi::fail_writes`] answers the next writes to a
//! path with an error code (409 Conflict, say), and [`FakeApi::partition`] cuts one client
//! (served through its own [`FakeApi::router_for`]) off from some paths only. Patches that carry
//! `metadata.resourceVersion` are conditional, as on the API server.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};

/// How the fake answers while it is made unavailable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outage {
    /// Serving normally.
    None,
    /// Every request gets 503 Service Unavailable at once; open watches are closed.
    Unavailable,
    /// Requests get no answer and open watches no event until the outage ends (a network
    /// partition); then each stalled request gets 503 and each stalled watch is closed.
    Hang,
}

/// Errors injected into writes: (path substring, how many more, status code).
type Injected = Vec<(String, usize, u16)>;

/// The header [`FakeApi::router_for`] tags each request with: which client sent it.
const CLIENT_HEADER: &str = "x-porter-fake-client";

/// The fake's state.
pub struct FakeApi {
    objects: Mutex<BTreeMap<String, Vec<Value>>>,
    events: broadcast::Sender<(String, Value)>,
    /// Every event with its resourceVersion, replayed to a watch that starts from an older
    /// one (as the API server does), so nothing between a list and its watch is lost.
    history: Mutex<Vec<(u64, String, Value)>>,
    writes: Mutex<Vec<(String, String, Value)>>,
    rv: AtomicU64,
    outage: watch::Sender<Outage>,
    inject: Mutex<Injected>,
    injected: AtomicU64,
    /// (client, path substring): requests that hang until healed.
    partitions: watch::Sender<Vec<(String, String)>>,
}

/// `(collection, namespace, name, subresource)` of an API path. Namespaced paths fold into
/// the cluster-wide collection (objects carry their namespace).
pub fn parse(path: &str) -> (String, Option<String>, Option<String>, Option<String>) {
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (base, rest) = match seg.first() {
        Some(&"api") => (seg[..2].join("/"), &seg[2..]),
        _ => (seg[..3.min(seg.len())].join("/"), &seg[3.min(seg.len())..]),
    };
    let (ns, rest) = if rest.first() == Some(&"namespaces") && rest.len() >= 3 {
        (Some(rest[1].to_string()), &rest[2..])
    } else {
        (None, rest)
    };
    (
        format!("/{base}/{}", rest.first().copied().unwrap_or_default()),
        ns,
        rest.get(1).map(|s| s.to_string()),
        rest.get(2).map(|s| s.to_string()),
    )
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    json_response(
        StatusCode::from_u16(code).unwrap(),
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "reason": reason, "code": code, "message": message}),
    )
}

fn json_response(code: StatusCode, v: &Value) -> Response {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(v).unwrap()))
        .unwrap()
}

/// Waits until the outage state satisfies `done` (forever if the fake is gone).
async fn until(rx: &mut watch::Receiver<Outage>, done: fn(Outage) -> bool) {
    loop {
        let now = *rx.borrow_and_update();
        if done(now) {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Whether a merge or apply patch names a `metadata.resourceVersion` other than the stored
/// one: the API server treats it as a precondition.
fn stale(patch: &Value, stored: &Value) -> bool {
    let want = &patch["metadata"]["resourceVersion"];
    !want.is_null() && *want != stored["metadata"]["resourceVersion"]
}

/// RFC 7386 merge.
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Server-side apply without ownership: objects merged key by key, `conditions` merged by
/// `type`, other lists replaced.
fn apply(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                match (k.as_str(), t.get_mut(k)) {
                    ("conditions", Some(Value::Array(old))) => {
                        for c in v.as_array().into_iter().flatten() {
                            old.retain(|o| o["type"] != c["type"]);
                            old.push(c.clone());
                        }
                    }
                    (_, Some(old)) if old.is_object() && v.is_object() => apply(old, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

impl FakeApi {
    /// An empty fake.
    pub fn new() -> Arc<FakeApi> {
        Arc::new(FakeApi {
            objects: Mutex::default(),
            events: broadcast::channel(4096).0,
            history: Mutex::default(),
            writes: Mutex::default(),
            rv: AtomicU64::new(10),
            outage: watch::channel(Outage::None).0,
            inject: Mutex::default(),
            injected: AtomicU64::new(0),
            partitions: watch::channel(Vec::new()).0,
        })
    }

    /// Serves the fake to one client named `client`, so that [`FakeApi::partition`] can cut
    /// that client alone off (give each `porter manager` its own listener).
    pub fn router_for(self: &Arc<Self>, client: &str) -> axum::Router {
        let tag = axum::http::HeaderValue::from_str(client).expect("a header-safe name");
        self.router().layer(axum::middleware::map_request(
            move |mut req: axum::extract::Request| {
                let tag = tag.clone();
                async move {
                    req.headers_mut().insert(CLIENT_HEADER, tag);
                    req
                }
            },
        ))
    }

    /// Requests of `client` (see [`FakeApi::router_for`]) whose path contains `path` hang
    /// until [`FakeApi::heal`], then get 503: a partial partition, e.g. a leader whose Lease
    /// renewals are lost while its other writes still land.
    pub fn partition(&self, client: &str, path: &str) {
        self.partitions
            .send_modify(|p| p.push((client.to_string(), path.to_string())));
    }

    /// Ends every partition.
    pub fn heal(&self) {
        self.partitions.send_modify(Vec::clear);
    }

    /// Waits out a partition of this request: `Some(503)` when it was cut off.
    async fn partition_answer(&self, client: &str, path: &str) -> Option<Response> {
        let cut = |p: &Vec<(String, String)>| {
            p.iter()
                .any(|(c, sub)| c == client && path.contains(sub.as_str()))
        };
        let mut rx = self.partitions.subscribe();
        if !cut(&rx.borrow_and_update()) {
            return None;
        }
        let _ = rx.wait_for(|p| !cut(p)).await;
        Some(status(503, "ServiceUnavailable", "partitioned"))
    }

    /// Starts or ends an outage.
    pub fn set_outage(&self, outage: Outage) {
        self.outage.send_replace(outage);
    }

    /// Answers the next `count` writes (not Events) whose path contains `path` with `code`
    /// (e.g. 409: what a concurrent writer causes), without applying them.
    pub fn fail_writes(&self, path: &str, count: usize, code: u16) {
        self.inject
            .lock()
            .unwrap()
            .push((path.to_string(), count, code));
    }

    /// How many writes [`FakeApi::fail_writes`] has failed so far.
    pub fn injected_failures(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    /// The injected error for a write to `path`, if one is due.
    fn take_injected(&self, path: &str) -> Option<u16> {
        let mut inject = self.inject.lock().unwrap();
        let due = inject
            .iter_mut()
            .find(|(p, n, _)| *n > 0 && path.contains(p.as_str()))?;
        due.1 -= 1;
        self.injected.fetch_add(1, Ordering::SeqCst);
        Some(due.2)
    }

    /// Waits out an outage: `Some(503)` when the request arrived during one.
    async fn outage_answer(&self) -> Option<Response> {
        let mut rx = self.outage.subscribe();
        let now = *rx.borrow_and_update();
        match now {
            Outage::None => None,
            Outage::Unavailable => Some(status(503, "ServiceUnavailable", "outage")),
            Outage::Hang => {
                until(&mut rx, |o| o != Outage::Hang).await;
                Some(status(503, "ServiceUnavailable", "outage (stalled)"))
            }
        }
    }

    fn next_rv(&self) -> String {
        self.rv.fetch_add(1, Ordering::SeqCst).to_string()
    }

    /// Creates or replaces `obj` in `collection` (e.g. `/api/v1/nodes`), telling watchers.
    pub fn put(&self, collection: &str, mut obj: Value) {
        obj["metadata"]["resourceVersion"] = json!(self.next_rv());
        let mut all = self.objects.lock().unwrap();
        let list = all.entry(collection.to_string()).or_default();
        let i = list.iter().position(|o| {
            o["metadata"]["name"] == obj["metadata"]["name"]
                && o["metadata"]["namespace"] == obj["metadata"]["namespace"]
        });
        let kind = match i {
            Some(i) => {
                list[i] = obj.clone();
                "MODIFIED"
            }
            None => {
                list.push(obj.clone());
                "ADDED"
            }
        };
        self.emit(collection, json!({"type": kind, "object": obj}));
    }

    fn emit(&self, collection: &str, event: Value) {
        let rv = event["object"]["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        // Under the history lock, so a watch's replay and its live events do not interleave.
        let mut history = self.history.lock().unwrap();
        history.push((rv, collection.to_string(), event.clone()));
        let _ = self.events.send((collection.to_string(), event));
    }

    /// The object `name` (in `namespace`) of `collection`.
    pub fn get(&self, collection: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        self.objects
            .lock()
            .unwrap()
            .get(collection)?
            .iter()
            .find(|o| {
                o["metadata"]["name"] == name
                    && namespace.is_none_or(|ns| o["metadata"]["namespace"] == ns)
            })
            .cloned()
    }

    /// Every object of `collection`.
    pub fn all(&self, collection: &str) -> Vec<Value> {
        self.objects
            .lock()
            .unwrap()
            .get(collection)
            .cloned()
            .unwrap_or_default()
    }

    fn remove(&self, collection: &str, obj: &Value) {
        let mut all = self.objects.lock().unwrap();
        if let Some(list) = all.get_mut(collection) {
            list.retain(|o| {
                !(o["metadata"]["name"] == obj["metadata"]["name"]
                    && o["metadata"]["namespace"] == obj["metadata"]["namespace"])
            });
        }
        drop(all);
        let mut gone = obj.clone();
        gone["metadata"]["resourceVersion"] = json!(self.next_rv());
        self.emit(collection, json!({"type": "DELETED", "object": gone}));
    }

    /// Writes whose path (with query) starts with `prefix`: (path, body).
    pub fn writes_to(&self, prefix: &str) -> Vec<(String, Value)> {
        self.writes
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, p, _)| p.starts_with(prefix))
            .map(|(_, p, b)| (p.clone(), b.clone()))
            .collect()
    }

    /// Stores a changed object, or removes it when it is deleting and has no finalizer left.
    fn store(&self, collection: &str, obj: Value) -> Value {
        let deleting = obj["metadata"]["deletionTimestamp"].is_string();
        let finalizers = obj["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        if deleting && !finalizers {
            self.remove(collection, &obj);
            obj
        } else {
            self.put(collection, obj.clone());
            self.get(
                collection,
                obj["metadata"]["namespace"].as_str(),
                obj["metadata"]["name"].as_str().unwrap_or_default(),
            )
            .unwrap_or(obj)
        }
    }

    /// Serves the fake; use with `axum::serve`.
    pub fn router(self: &Arc<Self>) -> axum::Router {
        axum::Router::new()
            .fallback(handle)
            .with_state(self.clone())
    }
}

async fn handle(
    State(fake): State<Arc<FakeApi>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = fake.outage_answer().await {
        return refused;
    }
    let path = uri.path().to_string();
    if let Some(client) = headers.get(CLIENT_HEADER).and_then(|v| v.to_str().ok()) {
        if let Some(refused) = fake.partition_answer(client, &path).await {
            return refused;
        }
    }
    let query = uri.query().unwrap_or_default().to_string();
    let (collection, ns, name, _sub) = parse(&path);
    if method == Method::GET {
        if let Some(name) = &name {
            return match fake.get(&collection, ns.as_deref(), name) {
                Some(o) => json_response(StatusCode::OK, &o),
                None => status(404, "NotFound", "not found"),
            };
        }
        if query.contains("watch=true") {
            let from: u64 = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("resourceVersion="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let (rx, replay) = {
                let history = fake.history.lock().unwrap();
                let rx = fake.events.subscribe();
                let replay: Vec<Value> = history
                    .iter()
                    .filter(|(rv, c, _)| *rv > from && *c == collection)
                    .map(|(_, _, e)| e.clone())
                    .collect();
                (rx, replay)
            };
            let replayed = futures::stream::iter(replay.into_iter().map(|ev| {
                let mut line = serde_json::to_vec(&ev).unwrap();
                line.push(b'\n');
                Ok::<_, Infallible>(Bytes::from(line))
            }));
            let outage = fake.outage.subscribe();
            let live = futures::stream::unfold((rx, outage), move |(mut rx, mut outage)| {
                let collection = collection.clone();
                async move {
                    loop {
                        let ev = tokio::select! {
                            ev = rx.recv() => ev,
                            // An outage closes the watch: at once when unavailable, at its
                            // end when hanging (nothing is delivered meanwhile).
                            () = until(&mut outage, |o| o != Outage::None) => {
                                until(&mut outage, |o| o != Outage::Hang).await;
                                return None;
                            }
                        };
                        match ev {
                            Ok((c, ev)) if c == collection => {
                                let mut line = serde_json::to_vec(&ev).unwrap();
                                line.push(b'\n');
                                return Some((
                                    Ok::<_, Infallible>(Bytes::from(line)),
                                    (rx, outage),
                                ));
                            }
                            Ok(_) => continue,
                            // Too far behind: close the watch, as the API server does; the
                            // client watches again from its last version and gets the rest
                            // replayed, instead of silently missing events.
                            Err(broadcast::error::RecvError::Lagged(_)) => return None,
                            Err(broadcast::error::RecvError::Closed) => return None,
                        }
                    }
                }
            });
            return Response::builder()
                .header("content-type", "application/json")
                .body(Body::from_stream(futures::StreamExt::chain(replayed, live)))
                .unwrap();
        }
        // The last version handed out, read before the objects: a change racing the list is
        // then replayed to the watch rather than lost.
        let rv = fake.rv.load(Ordering::SeqCst) - 1;
        let items = fake
            .objects
            .lock()
            .unwrap()
            .get(&collection)
            .cloned()
            .unwrap_or_default();
        return json_response(
            StatusCode::OK,
            &json!({"kind": "List", "apiVersion": "v1",
                    "metadata": {"resourceVersion": rv.to_string()},
                    "items": items}),
        );
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    fake.writes
        .lock()
        .unwrap()
        .push((method.to_string(), format!("{path}?{query}"), body.clone()));
    if collection.ends_with("/events") {
        return json_response(StatusCode::CREATED, &body);
    }
    if let Some(code) = fake.take_injected(&path) {
        return status(code, "Conflict", "injected failure");
    }
    match method {
        Method::POST => {
            let mut obj = body;
            if let Some(ns) = &ns {
                obj["metadata"]["namespace"] = json!(ns);
            }
            let name = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if fake.get(&collection, ns.as_deref(), &name).is_some() {
                return status(409, "AlreadyExists", "already exists");
            }
            obj["metadata"]["uid"] = json!(format!("uid-{name}"));
            let stored = fake.store(&collection, obj);
            json_response(StatusCode::CREATED, &stored)
        }
        Method::PUT => {
            let Some(current) = fake.get(&collection, ns.as_deref(), name.as_deref().unwrap_or(""))
            else {
                return status(404, "NotFound", "not found");
            };
            if body["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"] {
                return status(409, "Conflict", "the object has been modified");
            }
            let stored = fake.store(&collection, body);
            json_response(StatusCode::OK, &stored)
        }
        Method::PATCH => {
            let Some(mut obj) = fake.get(&collection, ns.as_deref(), name.as_deref().unwrap_or(""))
            else {
                return status(404, "NotFound", "not found");
            };
            let ct = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if ct.starts_with("application/json-patch") {
                // As the API server (evanphx/json-patch) does: `test` for null passes on a
                // missing path.
                let ops: Vec<Value> = body
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|op| {
                        !(op["op"] == "test"
                            && op["value"].is_null()
                            && obj
                                .pointer(op["path"].as_str().unwrap_or_default())
                                .is_none())
                    })
                    .cloned()
                    .collect();
                let Ok(p) = serde_json::from_value::<json_patch::Patch>(Value::Array(ops)) else {
                    return status(400, "BadRequest", "bad JSON patch");
                };
                if json_patch::patch(&mut obj, &p).is_err() {
                    return status(422, "Invalid", "JSON patch test failed");
                }
            } else if stale(&body, &obj) {
                return status(409, "Conflict", "the object has been modified");
            } else if ct.starts_with("application/apply-patch") {
                let mut p = body;
                if let Some(m) = p.as_object_mut() {
                    m.remove("apiVersion");
                    m.remove("kind");
                    m.remove("metadata");
                }
                apply(&mut obj, &p);
            } else {
                merge(&mut obj, &body);
            }
            let stored = fake.store(&collection, obj);
            json_response(StatusCode::OK, &stored)
        }
        Method::DELETE => {
            let Some(mut obj) = fake.get(&collection, ns.as_deref(), name.as_deref().unwrap_or(""))
            else {
                return status(404, "NotFound", "not found");
            };
            obj["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
            let stored = fake.store(&collection, obj);
            json_response(StatusCode::OK, &stored)
        }
        _ => status(405, "MethodNotAllowed", "method not allowed"),
    }
}

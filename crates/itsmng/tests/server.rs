//! The server face's success answers: status codes, headers and body shapes as the
//! real server gives them (facts file), over TCP.

mod common;

use common::*;
use serde_json::{Value, json};
use ticketgate_model::{Body, Helpdesk, NewTicket, Requester, State};

async fn seed(rig: &Rig, n: usize) {
    for i in 0..n {
        rig.helpdesk
            .create(NewTicket {
                subject: format!("Ticket {i}"),
                body: Body::text(format!("body {i}")),
                requester: Requester {
                    email: Some("ann@example.com".into()),
                    ..Requester::default()
                },
                ..NewTicket::default()
            })
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn sessions() {
    let rig = rig().await;
    let url = rig.url();
    let a = send(
        http()
            .get(format!("{url}/initSession?get_full_session=true"))
            .header("Authorization", format!("user_token {TOKEN}")),
    )
    .await;
    assert_eq!(a.status, 200);
    let v = a.json();
    let s = v["session_token"].as_str().unwrap().to_owned();
    assert!(s.len() >= 26);
    assert_eq!(v["session"]["glpiname"], "alice");
    assert_eq!(v["session"]["glpiactive_entity"], 0);
    let get = |path: &str| {
        http()
            .get(format!("{url}{path}"))
            .header("Session-Token", s.clone())
    };
    let a = send(get("/getFullSession")).await;
    assert_eq!(
        a.json()["session"]["glpiactiveprofile"]["name"],
        "Super-Admin"
    );
    let a = send(get("/getMyProfiles")).await;
    assert_eq!(a.json()["myprofiles"][0]["id"], 4);
    let a = send(get("/getActiveProfile")).await;
    assert_eq!(a.json()["active_profile"]["id"], 4);
    let a = send(get("/getMyEntities")).await;
    assert_eq!(
        a.json(),
        json!({"myentities": [{"id": 0, "name": "Root entity"}]})
    );
    let a = send(get("/changeActiveEntities?entities_id=0&is_recursive=true")).await;
    assert_eq!((a.status, a.body.as_str()), (200, "true"));
    let a = send(get("/getActiveEntities")).await;
    assert_eq!(
        a.json(),
        json!({"active_entity": {"id": 0, "active_entity_recursive": true, "active_entities": [{"id": 0}]}})
    );
    let a = send(get("/changeActiveProfile?profiles_id=99")).await;
    assert_eq!(a.status, 404);
    let a = send(get("/changeActiveProfile?profiles_id=4")).await;
    assert_eq!((a.status, a.body.as_str()), (200, ""));
    let a = send(get("/getGlpiConfig")).await;
    assert_eq!(a.json()["cfg_glpi"]["priority_matrix"]["4"]["2"], 3);
    let a = send(get("/killSession")).await;
    assert_eq!((a.status, a.body.as_str()), (200, ""));
    let a = send(get("/getFullSession")).await;
    assert_eq!(a.status, 401);
}

#[tokio::test]
async fn ticket_crud_shapes() {
    let rig = rig().await;
    let url = rig.url();
    let s = session(&rig).await;
    let req = |m: reqwest::Method, path: &str| {
        http()
            .request(m, format!("{url}{path}"))
            .header("Session-Token", s.clone())
    };
    use reqwest::Method as M;

    // Single create: 201, {"id","message"}, Location.
    let a = send(req(M::POST, "/Ticket").json(&json!({"input": {
        "name": "Printer", "content": "jammed", "urgency": 5, "impact": 5,
        "itilcategories_id": 1, "locations_id": 2
    }})))
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.json(), json!({"id": 1, "message": ""}));
    assert_eq!(a.header("location").unwrap(), format!("{url}/Ticket/1"));

    // Batch create: 201, list, link header.
    let a = send(req(M::POST, "/Ticket").json(&json!({"input": [
        {"name": "A", "content": "a"}, {"name": "B", "content": "b"}
    ]})))
    .await;
    assert_eq!(a.status, 201);
    assert_eq!(
        a.json(),
        json!([{"id": 2, "message": ""}, {"id": 3, "message": ""}])
    );
    assert_eq!(
        a.header("link").unwrap(),
        format!("{url}/Ticket/2,{url}/Ticket/3")
    );

    // Get: raw fields, priority from the matrix, links, Last-Modified.
    let a = send(req(M::GET, "/Ticket/1")).await;
    assert_eq!(a.status, 200);
    let v = a.json();
    assert_eq!(v["name"], "Printer");
    assert_eq!(v["priority"], 5);
    assert_eq!(v["status"], 1);
    assert_eq!(v["itilcategories_id"], 1);
    assert!(a.header("last-modified").unwrap().ends_with("GMT"));
    assert!(
        a.body
            .starts_with("{\"id\":1,\"entities_id\":0,\"name\":\"Printer\""),
        "{}",
        a.body
    );
    let links = v["links"].as_array().unwrap();
    assert!(
        links.contains(&json!({"rel": "ITILCategory", "href": format!("{url}/ITILCategory/1")}))
    );
    let a = send(req(
        M::GET,
        "/Ticket/1?get_hateoas=false&expand_dropdowns=true",
    ))
    .await;
    let v = a.json();
    assert!(v.get("links").is_none());
    assert_eq!(v["itilcategories_id"], "Hardware");
    assert_eq!(v["locations_id"], "Branch Office");
    assert_eq!(v["entities_id"], "Root entity");

    // Update: 200 with a list even for one item.
    let a =
        send(req(M::PUT, "/Ticket/1").json(&json!({"input": {"status": 4, "urgency": 1}}))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json(), json!([{"1": true, "message": ""}]));
    let t = rig.helpdesk.get("1").await.unwrap();
    assert_eq!(t.status.state, State::Pending);
    // Urgency 1 × impact 5 is priority 2.
    assert_eq!(t.priority.unwrap().level.rank(), 2);
    let a = send(
        req(M::PATCH, "/Ticket")
            .json(&json!({"input": [{"id": 2, "name": "A2"}, {"id": 3, "name": "B2"}]})),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.json(),
        json!([{"2": true, "message": ""}, {"3": true, "message": ""}])
    );

    // Followups, listed under the ticket.
    let a = send(req(M::POST, "/ITILFollowup").json(&json!({"input": {
        "itemtype": "Ticket", "items_id": 1, "content": "On it", "is_private": true
    }})))
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let fid = a.json()["id"].clone();
    assert_eq!(
        a.header("location").unwrap(),
        format!("{url}/ITILFollowup/{fid}")
    );
    let a = send(
        req(M::POST, "/ITILFollowup")
            .json(&json!({"input": {"itemtype": "Ticket", "items_id": 1}})),
    )
    .await;
    assert_eq!(
        a.json(),
        json!([
            "ERROR_GLPI_ADD",
            "You can't add a followup without description"
        ])
    );
    let a = send(req(M::GET, "/Ticket/1/ITILFollowup")).await;
    let v = a.json();
    assert_eq!(v[0]["content"], "On it");
    assert_eq!(v[0]["is_private"], 1);
    assert_eq!(v[0]["items_id"], 1);

    // Solution: status 5; a second one is refused.
    let a = send(req(M::POST, "/ITILSolution").json(&json!({"input": {
        "itemtype": "Ticket", "items_id": 1, "content": "Cleared the jam"
    }})))
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(send(req(M::GET, "/Ticket/1")).await.json()["status"], 5);
    let a = send(req(M::POST, "/ITILSolution").json(&json!({"input": {
        "itemtype": "Ticket", "items_id": 1, "content": "again"
    }})))
    .await;
    assert_eq!(
        a.json(),
        json!([
            "ERROR_GLPI_ADD",
            "The item is already solved, did anyone pushed a solution before you ?"
        ])
    );
    // Close with a followup's add_close.
    let a = send(req(M::POST, "/ITILFollowup").json(&json!({"input": {
        "itemtype": "Ticket", "items_id": 1, "content": "closing", "add_close": 1
    }})))
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let v = send(req(M::GET, "/Ticket/1")).await.json();
    assert_eq!(v["status"], 6);
    assert!(v["closedate"].is_string());

    // Delete: trash (is_deleted 1), then purge (404); 200 with a list.
    let a = send(req(M::DELETE, "/Ticket/2")).await;
    assert_eq!(
        (a.status, a.json()),
        (200, json!([{"2": true, "message": ""}]))
    );
    assert_eq!(send(req(M::GET, "/Ticket/2")).await.json()["is_deleted"], 1);
    let a = send(req(M::DELETE, "/Ticket/2?force_purge=true")).await;
    assert_eq!(a.status, 200);
    assert_eq!(send(req(M::GET, "/Ticket/2")).await.status, 404);

    // Actors.
    let a = send(
        req(M::POST, "/Ticket_User")
            .json(&json!({"input": {"tickets_id": 3, "users_id": 2, "type": 2}})),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let a = send(req(M::GET, "/Ticket/3/Ticket_User")).await;
    let rows = a.json();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| r["type"] == 2 && r["users_id"] == 2)
    );
    assert_eq!(
        rig.helpdesk.get("3").await.unwrap().status.state,
        State::Open
    );
}

#[tokio::test]
async fn upload_creates_and_links_a_document() {
    let rig = rig().await;
    let url = rig.url();
    let s = session(&rig).await;
    seed(&rig, 1).await;
    let form = reqwest::multipart::Form::new()
        .part(
            "uploadManifest",
            reqwest::multipart::Part::text(
                r#"{"input": {"name": "shot", "itemtype": "Ticket", "items_id": 1, "_filename": ["x.png"]}}"#,
            )
            .mime_str("application/json")
            .unwrap(),
        )
        .part(
            "filename[0]",
            reqwest::multipart::Part::bytes(b"PNGDATA".to_vec())
                .file_name("screenshot.png")
                .mime_str("image/png")
                .unwrap(),
        );
    let a = send(
        http()
            .post(format!("{url}/Document"))
            .header("Session-Token", s.clone())
            .multipart(form),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.header("location").unwrap(), format!("{url}/Document/1"));
    let v = a.json();
    assert_eq!(v["id"], 1);
    let file = &v["upload_result"]["filename"][0];
    assert_eq!(file["display"], "screenshot.png");
    assert!(file["name"].as_str().unwrap().ends_with("screenshot.png"));
    assert_eq!(
        (file["size"].clone(), file["filesize"].clone()),
        (json!(7), json!("7 o"))
    );
    let t = rig.helpdesk.get("1").await.unwrap();
    assert_eq!(t.attachments[0].name, "screenshot.png");
    assert_eq!(t.attachments[0].bytes, b"PNGDATA");
    let a = send(
        http()
            .get(format!("{url}/Ticket/1?with_documents=true"))
            .header("Session-Token", s.clone()),
    )
    .await;
    assert_eq!(a.json()["_documents"][0]["filename"], "screenshot.png");
    // The document's row: titled after the ticket, as GLPI titles it.
    let get = |path: &str| {
        http()
            .get(format!("{url}{path}"))
            .header("Session-Token", s.clone())
    };
    let a = send(get("/Document/1")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let row = a.json();
    assert_eq!(row["name"], "Document: Ticket - Ticket 0");
    assert_eq!(row["filename"], "screenshot.png");
    assert_eq!(row["mime"], "image/png");
    let sha1 = row["sha1sum"].as_str().unwrap().to_owned();
    assert_eq!(sha1.len(), 40);
    assert_eq!(
        row["filepath"],
        format!("PNG/{}/{}.PNG", &sha1[..2], &sha1[2..])
    );
    // Downloads: an image inline, with its own type.
    let a = send(get("/Document/1").header("Accept", "application/octet-stream")).await;
    assert_eq!((a.status, a.body.as_str()), (200, "PNGDATA"));
    assert_eq!(a.header("content-type").unwrap(), "image/png");
    assert_eq!(
        a.header("content-disposition").unwrap(),
        "filename=\"screenshot.png\"; filename*=utf-8''screenshot.png"
    );
}

/// A document of its own (no ticket), read, downloaded as text, then linked to a
/// ticket through `Document_Item`; the mistakes a client can make, never a 5xx.
#[tokio::test]
async fn documents_of_their_own_are_uploaded_downloaded_and_linked() {
    let rig = rig().await;
    let url = rig.url();
    let s = session(&rig).await;
    seed(&rig, 2).await;
    let upload = |manifest: &str, file: Option<(&str, &[u8])>| {
        let mut form = reqwest::multipart::Form::new().part(
            "uploadManifest",
            reqwest::multipart::Part::text(manifest.to_owned()),
        );
        if let Some((name, bytes)) = file {
            form = form.part(
                "filename[0]",
                reqwest::multipart::Part::bytes(bytes.to_vec())
                    .file_name(name.to_owned())
                    .mime_str("text/plain")
                    .unwrap(),
            );
        }
        http()
            .post(format!("{url}/Document"))
            .header("Session-Token", s.clone())
            .multipart(form)
    };
    let a = send(upload(
        r#"{"input": {"name": "Meeting notes", "_filename": ["notes é.txt"]}}"#,
        Some(("notes é.txt", b"hello from the notes\n")),
    ))
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.json()["id"].as_i64().unwrap();
    assert!(rig.helpdesk.get("1").await.unwrap().attachments.is_empty());
    let get = |path: String| {
        http()
            .get(format!("{url}{path}"))
            .header("Session-Token", s.clone())
    };
    let a = send(get(format!("/Document/{id}"))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["name"], "Meeting notes");
    assert_eq!(a.json()["filename"], "notes é.txt");
    for download in [
        get(format!("/Document/{id}?alt=media")),
        get(format!("/Document/{id}")).header("Accept", "application/octet-stream"),
    ] {
        let a = send(download).await;
        assert_eq!((a.status, a.body.as_str()), (200, "hello from the notes\n"));
        assert_eq!(
            a.header("content-type").unwrap(),
            "text/plain;charset=UTF-8"
        );
        assert_eq!(
            a.header("content-disposition").unwrap(),
            "attachment; filename=\"notes ?.txt\"; filename*=utf-8''notes%20%C3%A9.txt"
        );
    }
    // Any other Accept is the row, as on GLPI (which downloads for exactly that type).
    let a = send(get(format!("/Document/{id}")).header("Accept", "application/octet-stream, */*"))
        .await;
    assert_eq!(a.json()["filename"], "notes é.txt");

    let link = |input: serde_json::Value| {
        http()
            .post(format!("{url}/Document_Item"))
            .header("Session-Token", s.clone())
            .json(&json!({ "input": input }))
    };
    let a = send(link(
        json!({"documents_id": id, "itemtype": "Ticket", "items_id": 2}),
    ))
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let t = rig.helpdesk.get("2").await.unwrap();
    assert_eq!(
        t.attachments[0].id.as_deref(),
        Some(id.to_string().as_str())
    );
    let a = send(get("/Ticket/2/Document_Item".into())).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()[0]["documents_id"], id);
    assert_eq!(a.json()[0]["itemtype"], "Ticket");
    assert_eq!(a.header("content-range").unwrap(), "0-0/1");

    // Mistakes: linked twice, to another itemtype, an unknown document or ticket, an
    // upload with no file, an unknown document read.
    for (input, status) in [
        (
            json!({"documents_id": id, "itemtype": "Ticket", "items_id": 2}),
            400,
        ),
        (
            json!({"documents_id": id, "itemtype": "Computer", "items_id": 2}),
            400,
        ),
        (
            json!({"documents_id": 999, "itemtype": "Ticket", "items_id": 1}),
            400,
        ),
        (
            json!({"documents_id": id, "itemtype": "Ticket", "items_id": 999}),
            400,
        ),
        (json!({"itemtype": "Ticket"}), 400),
    ] {
        let a = send(link(input.clone())).await;
        assert_eq!(a.status, status, "{input}: {}", a.body);
        assert_eq!(a.json()[0], "ERROR_GLPI_ADD", "{input}");
    }
    let a = send(upload(
        r#"{"input": {"name": "x", "_filename": ["x.txt"]}}"#,
        None,
    ))
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()[0], "ERROR_UPLOAD_FILE_TOO_BIG_POST_MAX_SIZE");
    let a = send(upload(
        r#"{"input": {"name": "x", "itemtype": "Ticket", "items_id": 999}}"#,
        Some(("x.txt", b"x")),
    ))
    .await;
    assert_eq!(
        (a.status, a.json()[0].clone()),
        (400, json!("ERROR_GLPI_ADD"))
    );
    for path in ["/Document/999", "/Document/abc"] {
        let a = send(get(path.into()).header("Accept", "application/octet-stream")).await;
        assert_eq!(a.status, 404, "{path}: {}", a.body);
        assert_eq!(a.json()[0], "ERROR_ITEM_NOT_FOUND");
    }
}

#[tokio::test]
async fn list_ranges_and_headers() {
    let rig = rig().await;
    let url = rig.url();
    let s = session(&rig).await;
    seed(&rig, 20).await;
    let get = |path: &str| {
        http()
            .get(format!("{url}{path}"))
            .header("Session-Token", s.clone())
    };
    // Default range 0-15: sixteen rows of twenty, 206.
    let a = send(get("/Ticket")).await;
    assert_eq!(a.status, 206);
    assert_eq!(a.json().as_array().unwrap().len(), 16);
    assert_eq!(a.header("content-range").unwrap(), "0-15/20");
    assert_eq!(a.header("accept-range").unwrap(), "Ticket 1000");
    assert_eq!(a.json()[0]["id"], 1);
    // The whole set: 200, end clamped to total-1.
    let a = send(get("/Ticket?range=0-99&sort=id&order=desc")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-range").unwrap(), "0-19/20");
    assert_eq!(a.json()[0]["id"], 20);
    let a = send(get("/Ticket?range=18-25&only_id=true")).await;
    assert_eq!(a.status, 206);
    assert_eq!(a.json(), json!([{"id": 19}, {"id": 20}]));
    // The CORS headers of a GET from a browser.
    let a = send(get("/Ticket?range=0-0").header("Origin", "http://app")).await;
    assert_eq!(a.header("access-control-allow-origin").unwrap(), "*");
    assert_eq!(
        a.header("access-control-expose-headers").unwrap(),
        "content-type, content-range, accept-range"
    );
    assert_eq!(
        a.header("content-type").unwrap(),
        "application/json; charset=UTF-8"
    );
}

#[tokio::test]
async fn search_shapes() {
    let rig = rig().await;
    let url = rig.url();
    let s = session(&rig).await;
    let get = |path: &str| {
        http()
            .get(format!("{url}{path}"))
            .header("Session-Token", s.clone())
    };
    // Zero rows: no data key, no Content-Range header.
    let a = send(get("/search/Ticket")).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.json(),
        json!({"totalcount": 0, "count": 0, "sort": ["1"], "order": ["ASC"], "content-range": "0--1/0"})
    );
    assert!(a.header("content-range").is_none());
    assert_eq!(a.header("accept-range").unwrap(), "Ticket 1000");

    seed(&rig, 20).await;
    let a = send(get("/search/Ticket?criteria[0][field]=1&criteria[0][searchtype]=contains&criteria[0][value]=Ticket 1&sort=2&order=DESC&range=0-4")).await;
    assert_eq!(a.status, 206, "{}", a.body);
    let v = a.json();
    // "Ticket 1", "Ticket 10" … "Ticket 19": eleven.
    assert_eq!(v["totalcount"], 11);
    assert_eq!(v["count"], 5);
    // GLPI 10 answers the sort and the order as lists.
    assert_eq!(v["sort"], json!(["2"]));
    assert_eq!(v["order"], json!(["DESC"]));
    assert_eq!(v["content-range"], "0-4/11");
    assert_eq!(a.header("content-range").unwrap(), "0-4/11");
    // Column 2 first, then 1, then the display preferences.
    assert!(
        a.body
            .contains("\"data\":[{\"2\":20,\"1\":\"Ticket 19\",\"12\":1,\"19\":"),
        "{}",
        a.body
    );
    let row = &v["data"][0];
    assert_eq!(row["4"], Value::Null);
    // Default window: fifteen rows.
    let a = send(get("/search/Ticket")).await;
    assert_eq!(a.status, 206);
    assert_eq!(a.json()["count"], 15);
    // forcedisplay picks the columns.
    let a = send(get("/search/Ticket?forcedisplay[0]=21&range=0-0")).await;
    let row = &a.json()["data"][0];
    assert_eq!(row.as_object().unwrap().len(), 3, "{row}");
    assert_eq!(row["21"], "body 0");
    // Past the end.
    let a = send(get("/search/Ticket?range=30-40")).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()[0], "ERROR_RANGE_EXCEED_TOTAL");
    // Search options.
    let a = send(get("/listSearchOptions/Ticket")).await;
    let v = a.json();
    assert_eq!(v["common"], json!({"name": "Characteristics"}));
    assert_eq!(v["9"]["uid"], "Ticket.RequestType.name");
    assert_eq!(v["12"]["field"], "status");
    assert_eq!(v["83"]["table"], "glpi_locations");
}

#[tokio::test]
async fn dropdowns_and_options() {
    let rig = rig().await;
    let url = rig.url();
    let s = session(&rig).await;
    let get = |path: &str| {
        http()
            .get(format!("{url}{path}"))
            .header("Session-Token", s.clone())
    };
    let a = send(get("/ITILCategory?get_hateoas=false")).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.json()[0],
        json!({"id": 1, "name": "Hardware", "completename": "Hardware", "entities_id": 0, "is_recursive": 1, "comment": null})
    );
    let a = send(get("/itilcategory/3")).await;
    assert_eq!(a.json()["name"], "Network");
    let a = send(get("/User?searchText[name]=sam")).await;
    assert_eq!(a.json().as_array().unwrap().len(), 1);
    let sam_id = a.json()[0]["id"].clone();
    // search/User as glpi-provider's find_user_by_username sends it (GLPI's shape).
    let a = send(get("/search/user/?forcedisplay[0]=2&forcedisplay[1]=9&forcedisplay[2]=34&criteria[0][field]=1&criteria[0][searchtype]=contains&criteria[0][value]=sam")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.json(),
        json!({"totalcount": 1, "count": 1, "sort": ["1"], "order": ["ASC"],
               "data": [{"1": "Sam Support", "2": sam_id, "9": null, "34": null}], "content-range": "0-0/1"})
    );
    let a = send(get("/search/User?criteria[0][field]=1&criteria[0][searchtype]=contains&criteria[0][value]=^nobody$")).await;
    assert_eq!(
        a.json(),
        json!({"totalcount": 0, "count": 0, "sort": ["1"], "order": ["ASC"], "content-range": "0--1/0"})
    );
    let a = send(get("/search/User?criteria[0][field]=99999&criteria[0][searchtype]=contains&criteria[0][value]=x")).await;
    assert_eq!(a.status, 400);
    let a = send(get(
        "/search/User?criteria[0][field]=6&criteria[0][searchtype]=contains&criteria[0][value]=555",
    ))
    .await;
    assert_eq!(
        a.status, 501,
        "a criterion ticketgate cannot search is never ignored"
    );
    let a = send(get("/Location/99")).await;
    assert_eq!(a.status, 404);
    let a = send(get("/Entity")).await;
    assert_eq!(a.json()[0]["name"], "Root entity");

    let a = send(
        http()
            .request(reqwest::Method::OPTIONS, format!("{url}/Ticket"))
            .header("Origin", "http://app")
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "session-token"),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body, "");
    assert_eq!(
        a.header("access-control-allow-methods").unwrap(),
        "PUT, GET, POST, DELETE, OPTIONS"
    );
    assert_eq!(
        a.header("access-control-allow-headers").unwrap(),
        "origin, content-type, accept, session-token, authorization"
    );
}

#[tokio::test]
async fn odd_ranges_never_panic() {
    let rig = rig().await;
    let url = rig.url();
    let s = session(&rig).await;
    seed(&rig, 3).await;
    for range in [
        "5-2",
        "2-1",
        "0-0",
        "18446744073709551615-18446744073709551615",
        "0-18446744073709551615",
        "99999999999999999999999-1",
    ] {
        for path in ["/Ticket", "/search/Ticket", "/ITILCategory"] {
            let a = send(
                http()
                    .get(format!("{url}{path}?range={range}"))
                    .header("Session-Token", s.clone()),
            )
            .await;
            assert!(
                a.status < 500,
                "{path}?range={range}: {} {}",
                a.status,
                a.body
            );
        }
    }
    // A batch costs a quota token per item: every item is checked.
    let a = send(
        http()
            .post(format!("{url}/Ticket"))
            .header("Session-Token", s.clone())
            .json(&json!({"input": {"0": {"name": "x", "content": "y"}, "1": {"name": "z", "content": "w"}}})),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.json().as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn gateway_outcomes_of_a_create() {
    use std::sync::atomic::Ordering;
    let rig = rig().await;
    let url = rig.url();
    let s = session(&rig).await;
    let create = || {
        http()
            .post(format!("{url}/Ticket"))
            .header("Session-Token", s.clone())
            .json(&json!({"input": {"name": "x", "content": "y"}}))
    };
    rig.cx.fail_creates.store(true, Ordering::Relaxed);
    let a = send(create()).await;
    assert_eq!(a.status, 502);
    assert_eq!(a.json(), json!(["ERROR", "the helpdesk is down"]));
    rig.cx.fail_creates.store(false, Ordering::Relaxed);
    rig.cx.queue_creates.store(true, Ordering::Relaxed);
    let a = send(create()).await;
    assert_eq!(a.status, 202);
    assert_eq!(a.json()["id"], "q-1");
}

/// A ticket's sub-items as GLPI 10 lists them: range, sort and order, 206 with
/// Content-Range for a part, 400 past the end or for a column the table lacks; the
/// solution listed; tasks none; documents through Document_Item only.
#[tokio::test]
async fn sub_items_are_ranged_sorted_and_solutions_listed() {
    let rig = rig().await;
    let url = rig.url();
    seed(&rig, 1).await;
    let s = session(&rig).await;
    let post = |path: &str, body: Value| {
        http()
            .post(format!("{url}{path}"))
            .header("Session-Token", s.clone())
            .json(&body)
    };
    let get = |path: &str| {
        http()
            .get(format!("{url}{path}"))
            .header("Session-Token", s.clone())
    };
    for i in 1..=3 {
        let a = send(post(
            "/ITILFollowup",
            json!({"input": {"itemtype": "Ticket", "items_id": 1, "content": format!("reply {i}")}}),
        ))
        .await;
        assert_eq!(a.status, 201, "{}", a.body);
    }
    let a = send(get("/Ticket/1/ITILFollowup?range=0-1&sort=id&order=DESC")).await;
    assert_eq!(a.status, 206, "{}", a.body);
    assert_eq!(a.header("content-range").unwrap(), "0-1/3");
    let contents: Vec<Value> = a
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["content"].clone())
        .collect();
    assert_eq!(contents, [json!("reply 3"), json!("reply 2")]);
    let a = send(get("/Ticket/1/ITILFollowup")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-range").unwrap(), "0-2/3");
    let a = send(get("/Ticket/1/ITILFollowup?range=10-20")).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()[0], "ERROR_RANGE_EXCEED_TOTAL");
    let a = send(get("/Ticket/1/ITILFollowup?sort=nosuchfield")).await;
    assert_eq!(a.status, 400);
    assert!(
        a.json()[1]
            .as_str()
            .unwrap()
            .starts_with("sort param is not a field of glpi_itilfollowups")
    );

    let a = send(get("/Ticket/1/TicketTask")).await;
    assert_eq!((a.status, a.json()), (200, json!([])));
    assert!(a.header("content-range").is_none());
    let a = send(get("/Ticket/1/ITILSolution")).await;
    assert_eq!((a.status, a.json()), (200, json!([])));

    let a = send(post(
        "/ITILSolution",
        json!({"input": {"itemtype": "Ticket", "items_id": 1, "content": "Replaced the <b>fuser</b>"}}),
    ))
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let a = send(get("/Ticket/1/ITILSolution?get_hateoas=false")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-range").unwrap(), "0-0/1");
    let row = &a.json()[0];
    assert_eq!(row["content"], "Replaced the &#60;b&#62;fuser&#60;/b&#62;");
    assert_eq!(row["status"], 2, "waiting for approval while solved");
    assert_eq!(row["items_id"], 1);

    let a = send(get("/Ticket/1/Document")).await;
    assert_eq!((a.status, a.json()), (200, json!([])));
    assert!(a.header("content-range").is_none());
}

/// `getMultipleItems`: each item as its own GET answers it, in order; a bad list, an
/// unknown item or an itemtype the face does not serve fails the whole request.
#[tokio::test]
async fn multiple_items_at_once() {
    let rig = rig().await;
    let url = rig.url();
    let s = session(&rig).await;
    seed(&rig, 2).await;
    let get = |query: &str| {
        http()
            .get(format!("{url}/getMultipleItems?{query}"))
            .header("Session-Token", s.clone())
    };
    let a = send(get(
        "items[0][itemtype]=Ticket&items[0][items_id]=2&items[1][itemtype]=Ticket&items[1][items_id]=1&items[2][itemtype]=Entity&items[2][items_id]=0",
    ))
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let v = a.json();
    assert_eq!(
        (
            v[0]["name"].clone(),
            v[1]["name"].clone(),
            v[2]["id"].clone()
        ),
        (json!("Ticket 1"), json!("Ticket 0"), json!(0))
    );
    for (query, status, code) in [
        ("", 400, "ERROR_BAD_ARRAY"),
        ("items=Ticket", 400, "ERROR_BAD_ARRAY"),
        ("items[0][itemtype]=Ticket", 400, "ERROR_BAD_ARRAY"),
        (
            "items[0][itemtype]=Ticket&items[0][items_id]=99",
            404,
            "ERROR_ITEM_NOT_FOUND",
        ),
        (
            "items[0][itemtype]=Computer&items[0][items_id]=1",
            501,
            "ERROR",
        ),
    ] {
        let a = send(get(query)).await;
        assert_eq!(
            (a.status, a.json()[0].clone()),
            (status, json!(code)),
            "{query}: {}",
            a.body
        );
    }
}

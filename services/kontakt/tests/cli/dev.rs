//! `kontakt dev` from nothing: the embedded PostgreSQL, the demo data, `kontakt ctl` (import
//! included) against it, and a clean stop.

use super::*;

#[tokio::test]
async fn dev_starts_from_nothing_without_any_postgresql_server_running_for_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    // PostgreSQL runs unprivileged when we are root; it must reach the directory.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let data_dir = dir.path().join("dev");

    let mut child = dev_on(&data_dir)
        // Nothing to fall back on: no DATABASE_URL, and libpq defaults point nowhere.
        .env_remove("DATABASE_URL")
        .env("PGHOST", "/nonexistent")
        .spawn()
        .expect("start kontakt dev");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let services = listening(&mut lines, 4).await;
    let names: Vec<_> = services.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["referral", "matching", "timecost", "followup"]);
    for (name, addr) in &services {
        let channel = connect(*addr).await.expect("connect");
        let grpc_name = format!(
            "kontakt.{name}.v1.{}",
            match name.as_str() {
                "referral" => "ReferralService",
                "matching" => "MatchingService",
                "timecost" => "TimeCostService",
                _ => "FollowUpService",
            }
        );
        wait_for_health(
            &channel,
            &grpc_name,
            ServingStatus::Serving,
            Duration::from_secs(60),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    }
    // The banner carries an admin token that the running suite accepts.
    let admin_token = loop {
        let line = lines
            .next_line()
            .await
            .expect("read")
            .expect("kontakt dev printed a token");
        if let Some(token) = line.trim().strip_prefix("export TOKEN=") {
            break token.to_owned();
        }
    };
    let referral = connect(services[0].1).await.expect("connect");
    let list = || tonic::Request::new(ListLegalBasesRequest::default());
    ReferralServiceClient::new(kontakt_harness::authed(referral.clone(), &admin_token))
        .list_legal_bases(list())
        .await
        .expect("the printed admin token works");
    let refused = ReferralServiceClient::new(referral.clone())
        .list_legal_bases(list())
        .await
        .expect_err("no token");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    // `kontakt token` mints with the same data directory's key.
    let minted = std::process::Command::new(KONTAKT)
        .arg("token")
        .arg("--data-dir")
        .arg(&data_dir)
        .args([
            "--role",
            "coordinator",
            "--municipality",
            "183",
            "--service-unit",
            "ishoejgaard",
        ])
        .output()
        .expect("kontakt token");
    assert!(
        minted.status.success(),
        "{}",
        String::from_utf8_lossy(&minted.stderr)
    );
    let coordinator = String::from_utf8(minted.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    ReferralServiceClient::new(kontakt_harness::authed(referral.clone(), &coordinator))
        .list_legal_bases(list())
        .await
        .expect("a minted coordinator token works");
    // The demo data: the reference policies, loaded as data (DOMAIN.md §10).
    let mut admin = ReferralServiceClient::new(kontakt_harness::authed(referral, &admin_token));
    for (municipality, committee, min_age) in
        [("183", true, 0), ("187", true, 0), ("329", false, 12)]
    {
        let policies = admin
            .list_policies(ListPoliciesRequest {
                parent: format!("municipalities/{municipality}"),
                ..ListPoliciesRequest::default()
            })
            .await
            .expect("list policies")
            .into_inner()
            .policies;
        assert_eq!(policies.len(), 1, "{municipality}");
        assert_eq!(policies[0].committee_required, committee, "{municipality}");
        assert_eq!(policies[0].min_age_years, min_age, "{municipality}");
    }

    // The demo arrangements, seen through `kontakt ctl` as an operator would see them.
    let ctl_run = |args: &[&str]| {
        let token = std::process::Command::new(KONTAKT)
            .arg("token")
            .arg("--data-dir")
            .arg(&data_dir)
            .args([
                "--role",
                "counsellor",
                "--role",
                "coordinator",
                "--role",
                "finance",
                "--role",
                "admin",
            ])
            .args([
                "--municipality",
                "183",
                "--municipality",
                "187",
                "--municipality",
                "329",
            ])
            .output()
            .expect("kontakt token");
        let url = |i: usize| format!("http://{}", services[i].1);
        std::process::Command::new(KONTAKT)
            .arg("ctl")
            .args(["--referral-url", &url(0), "--matching-url", &url(1)])
            .args(["--timecost-url", &url(2), "--followup-url", &url(3)])
            .args(args)
            .env(
                "KONTAKT_TOKEN",
                String::from_utf8_lossy(&token.stdout).trim(),
            )
            .output()
            .expect("kontakt ctl")
    };
    let ctl = |args: &[&str]| {
        let out = ctl_run(args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let due = ctl(&["due-follow-ups", "--municipality", "329"]);
    assert!(due.starts_with("DUE ") && due.contains("overdue"), "{due}");
    let unmet = ctl(&["unmet-demand", "--municipality", "183"]);
    assert!(unmet.contains("language-somali"), "{unmet}");
    let budget = ctl(&["budget", "--frame", "ishoj-vallensbaek"]);
    assert!(
        budget.contains("\n183  ") && budget.contains("2/3"),
        "{budget}"
    );
    let grant = due
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(2))
        .expect("a grant in the table")
        .to_owned();
    let history = ctl(&["grant-history", &grant]);
    assert!(history.contains("\nv1  "), "{history}");
    // The demo's events were all applied: no consumer of the four passed one over.
    let rejects = ctl(&["rejects"]);
    assert!(
        rejects.starts_with("SERVICE ") && rejects.contains("\n0 open reject(s)"),
        "{rejects}"
    );
    let reapplied = ctl(&["reapply", "--service", "followup", "--all"]);
    assert_eq!(reapplied, "0 applied, 0 not\n");

    // Arrangements from Ishøj's old system: one bad row and nothing is imported; mended, both
    // are, with the contact person the old system had; run again, nothing new.
    let file = data_dir.join("fra-sbsys.csv");
    let header = "municipality,source_system,source_id,cpr,display_name,case_external_id,kle_number,counsellor,recipient,legal_basis,purpose,competences,decision_date,decider,approval_level,start_date,expected_end_date,terms,follow_ups_held,next_follow_up_date,contact_person";
    let first = "183,sbsys,KP-1,240312-4821,Ida Berg,S-1,27.27.24,demo-counsellor,child,sel-52-3-6,Skolegang,,2023-05-10,Birgit,team_meeting,2023-06-01,2027-06-30,2023-06-01=240;2024-08-01=180,2023-09-01;2026-10-01,2027-01-15,serviceUnits/ishoejgaard/contactPersons/jonas-berg";
    let second = |decided: &str| {
        format!(
            "183,sbsys,KP-2,120413-4822,Noah Lind,S-2,27.27.24,demo-counsellor,family,bl-32-1-3,Familiestøtte,,{decided},Birgit,own_authority,2026-11-01,2027-10-31,2026-11-01=120,,,"
        )
    };
    std::fs::write(
        &file,
        format!("{header}\n{first}\n{}\n", second("2026-13-20")),
    )
    .expect("csv");
    let refused = ctl_run(&["import", file.to_str().expect("path")]);
    let said = String::from_utf8_lossy(&refused.stderr);
    let report = String::from_utf8_lossy(&refused.stdout);
    assert!(!refused.status.success(), "{said}");
    assert!(
        report.contains("KP-2") && report.contains("decision_date"),
        "{report}"
    );
    assert!(
        said.contains("nothing was imported: 1 of 2 rows refused"),
        "{said}"
    );
    assert!(said.contains("Checking ["), "a progress bar: {said}");
    std::fs::write(
        &file,
        format!("{header}\n{first}\n{}\n", second("2026-10-20")),
    )
    .expect("csv");
    let imported = ctl(&["import", file.to_str().expect("path")]);
    assert_eq!(
        imported,
        "Imported 2 arrangements (0 were already there); 1 contact persons assigned.\n"
    );
    let again = ctl(&["import", file.to_str().expect("path")]);
    assert_eq!(
        again,
        "Imported 0 arrangements (2 were already there); 1 contact persons assigned.\n"
    );
    // The year's preventive measures for Danmarks Statistik: Ida Berg's, brought over, among
    // them with her CPR number, written whole or not at all.
    let statistics = data_dir.join("dst-183.csv");
    let written = ctl(&[
        "export-statistics",
        "--municipality",
        "183",
        "--from",
        "2026-01-01",
        "--to",
        "2026-12-31",
        "--out",
        statistics.to_str().expect("path"),
    ]);
    assert!(written.contains(" measures written to "), "{written}");
    let csv = std::fs::read_to_string(&statistics).expect("the file");
    assert!(
        csv.starts_with("kommunekode,foranstaltning_id,udsat_barn_cpr,"),
        "{csv}"
    );
    assert!(csv.contains(",2403124821,BARN,bl-32-1-3,"), "{csv}");
    assert!(!data_dir.join("dst-183.partial").exists());

    let postmaster = data_dir.join("pgdata").join("postmaster.pid");
    assert!(
        postmaster.exists(),
        "the embedded PostgreSQL runs from the data directory"
    );

    terminate(&child);
    let mut rest = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        rest.push_str(&line);
        rest.push('\n');
    }
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("exits")
        .expect("status");
    assert!(status.success(), "clean exit: {status}");
    assert!(rest.contains("PostgreSQL stopped."), "{rest}");
    assert!(!postmaster.exists(), "PostgreSQL shut down cleanly");

    // A second start reuses the data directory.
    let mut again = dev_on(&data_dir)
        .env_remove("DATABASE_URL")
        .spawn()
        .expect("start kontakt dev again");
    let mut lines = BufReader::new(again.stdout.take().expect("stdout")).lines();
    let demo = loop {
        let line = lines.next_line().await.expect("read").expect("a demo line");
        if line.starts_with("Demo data:") {
            break line;
        }
    };
    assert!(demo.contains("(0 loaded, 3 already there)"), "{demo}");
    // 10 PL rates, the frame and 3 mileage rates, all there from the first start.
    assert!(demo.contains("(new: 0 of 14)"), "{demo}");
    let stories = lines.next_line().await.expect("read").expect("a line");
    assert_eq!(stories, "Demo arrangements: the 12 are there already.");
    let services = listening(&mut lines, 4).await;
    let channel = connect(services[0].1).await.expect("connect");
    wait_for_health(
        &channel,
        "",
        ServingStatus::Serving,
        Duration::from_secs(60),
    )
    .await
    .expect("SERVING on the reused data directory");
    terminate(&again);
    let status = tokio::time::timeout(Duration::from_secs(60), again.wait())
        .await
        .expect("exits")
        .expect("status");
    assert!(status.success(), "clean exit: {status}");
}

/// `kontakt dev --tls`: every port TLS with a throwaway CA in the data directory; `kontakt
/// health` verifies against it (KONTAKT_TLS_CA), the console answers over HTTPS, and neither a
/// client without the CA nor a plaintext one gets an answer.
#[tokio::test]
async fn dev_with_tls_serves_every_port_over_tls_verified_against_its_throwaway_ca() {
    let db = fresh_database().await.expect("database");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = dev_on(&dir.path().join("dev"))
        .arg("--tls")
        .arg("--no-demo")
        .env("DATABASE_URL", &db.url)
        .spawn()
        .expect("start kontakt dev --tls");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let services = listening(&mut lines, 4).await;
    let (mut console, mut ca) = (None, None);
    while ca.is_none() {
        let line = lines
            .next_line()
            .await
            .expect("read")
            .expect("kontakt dev printed its banner");
        if let Some(url) = line.trim().strip_prefix("console   listening on ") {
            console = url.split_whitespace().next().map(str::to_owned);
        }
        if let Some(path) = line
            .trim()
            .strip_prefix("TLS       every port; the throwaway CA is ")
        {
            ca = Some(std::path::PathBuf::from(path));
        }
    }
    let (console, ca) = (console.expect("the console's URL"), ca.expect("the CA"));
    assert!(console.starts_with("https://"), "{console}");

    let health = |url: String, ca: Option<&std::path::Path>| {
        let mut command = std::process::Command::new(KONTAKT);
        command.args(["health", &url, "--wait", "60s"]);
        match ca {
            Some(ca) => command.env("KONTAKT_TLS_CA", ca),
            None => command.env_remove("KONTAKT_TLS_CA"),
        };
        command.output().expect("kontakt health")
    };
    for (name, addr) in &services {
        let answer = health(format!("https://localhost:{}", addr.port()), Some(&ca));
        assert!(
            answer.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&answer.stdout),
            String::from_utf8_lossy(&answer.stderr)
        );
    }
    let port = services[0].1.port();
    let (unknown, plaintext) = (
        std::process::Command::new(KONTAKT)
            .args(["health", &format!("https://localhost:{port}")])
            .env_remove("KONTAKT_TLS_CA")
            .output()
            .expect("kontakt health"),
        std::process::Command::new(KONTAKT)
            .args(["health", &format!("http://localhost:{port}")])
            .output()
            .expect("kontakt health"),
    );
    assert!(
        !unknown.status.success(),
        "a client without the CA must not be answered"
    );
    assert!(
        !plaintext.status.success(),
        "a plaintext client must not be answered"
    );

    let pem = std::fs::read(&ca).expect("the CA file");
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("a PEM CA"))
        .build()
        .expect("a client");
    let page = https
        .get(format!("{console}/log-ind"))
        .send()
        .await
        .expect("the console answers over HTTPS");
    assert!(page.status().is_success(), "{}", page.status());
    let strangers = reqwest::Client::new()
        .get(format!("{console}/healthz"))
        .send()
        .await;
    assert!(
        strangers.is_err(),
        "a browser without the CA must not get a page"
    );

    terminate(&child);
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("kontakt dev stopped")
        .expect("wait");
    assert!(status.success(), "{status}");
}

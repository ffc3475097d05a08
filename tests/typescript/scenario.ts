// A case system written in TypeScript: Connect-ES clients generated from Kontakt's `proto/` (with
// the repository's buf.gen.yaml) drive the case-system scenario against a running suite, the twin
// of tests/python/scenario.py.
//
// Over gRPC (HTTP/2), as Ringsted's case system (counsellor decides, no committee): register a
// child and a case, create a referral, complete and submit it, decide it, read the grant, receive
// GrantApproved on the referral feed with a case-system token, and see the follow-up schedule the
// follow-up service made from that event. Then over gRPC-Web (HTTP/1.1 and fetch, as a browser
// would call): the same reads, errors and feed give the same answers. Exits non-zero on the first
// thing that is not as expected.
//
//   tsx scenario.ts --kontakt target/debug/kontakt --referral 127.0.0.1:50051 \
//       --followup 127.0.0.1:50054            # with KONTAKT_DEV_DATA_DIR set for tokens

import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";

import { create, equals } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createGrpcWebTransport } from "@connectrpc/connect-web";

import { DateSchema, type Date as KontaktDate } from "./gen/ts/kontakt/common/v1/types_pb.js";
import { EnvelopeSchema, type Envelope } from "./gen/ts/kontakt/events/v1/envelope_pb.js";
import { EventFeedService } from "./gen/ts/kontakt/events/v1/feed_pb.js";
import { FollowUpService } from "./gen/ts/kontakt/followup/v1/followup_service_pb.js";
import { ScheduleSchema, type Schedule } from "./gen/ts/kontakt/followup/v1/resources_pb.js";
import { GrantApprovedSchema, type GrantApproved } from "./gen/ts/kontakt/referral/v1/events_pb.js";
import {
  ListLegalBasesResponseSchema,
  ReferralService,
} from "./gen/ts/kontakt/referral/v1/referral_service_pb.js";
import {
  ApprovalLevel,
  AssessmentKind,
  DecisionOutcome,
  GrantSchema,
  GrantState,
  Recipient,
  ReferralState,
  TargetGroup,
} from "./gen/ts/kontakt/referral/v1/resources_pb.js";

const RINGSTED = "329";
const CPR = "020312-4321"; // a valid test CPR; the child is 14 on the start date
const GRANT_APPROVED = "kontakt.referral.v1.GrantApproved";

type Auth = { headers: Record<string, string> };

function token(kontakt: string, role: string, municipality: string): string {
  const out = execFileSync(kontakt, ["token", "--role", role, "--municipality", municipality], {
    encoding: "utf8",
  });
  return out.trim().split(/\s+/).pop() ?? "";
}

function auth(tok: string): Auth {
  return { headers: { authorization: `Bearer ${tok}` } };
}

function day(year: number, month: number, d: number): KontaktDate {
  return create(DateSchema, { year, month, day: d });
}

function fail(what: string): never {
  console.error(`FAILED: ${what}`);
  process.exit(1);
}

function check(condition: unknown, what: string): asserts condition {
  if (!condition) fail(what);
  console.log(`ok  ${what}`);
}

// The call's error as Connect reports it, or fails the scenario if the call succeeded.
async function refused(call: Promise<unknown>, what: string): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err);
  }
  fail(`${what} is refused`);
}

// The first GrantApproved for `grant` on the referral feed after `after`, with its envelope.
async function awaitApproval(
  feed: Client<typeof EventFeedService>,
  caseSystem: Auth,
  grant: string,
  after: bigint,
): Promise<{ envelope: Envelope; event: GrantApproved } | undefined> {
  // The feed never ends by itself: the call is cancelled once the event is there, or after 30
  // seconds. (AbortSignal.timeout, not the call option timeoutMs, whose timer would keep Node
  // running for its whole length after the call was cancelled.)
  const cancel = new AbortController();
  const timeout = AbortSignal.timeout(30_000);
  const stream = feed.subscribe(
    { afterSequence: after, types: [GRANT_APPROVED] },
    { ...caseSystem, signal: AbortSignal.any([cancel.signal, timeout]) },
  );
  try {
    for await (const response of stream) {
      if (response.item.case !== "event") continue;
      const envelope = response.item.value;
      const event = envelope.payload && anyUnpack(envelope.payload, GrantApprovedSchema);
      if (!event) fail(`the feed sent ${envelope.type} for a ${GRANT_APPROVED} filter`);
      if (event.municipality !== RINGSTED) {
        fail(`a case system of ${RINGSTED} got ${event.municipality}'s event`);
      }
      if (event.grant === grant) return { envelope, event };
    }
    return undefined;
  } catch (err) {
    if (timeout.aborted) return undefined;
    throw err;
  } finally {
    cancel.abort();
  }
}

async function main(): Promise<void> {
  const { values: opts } = parseArgs({
    options: {
      kontakt: { type: "string" },
      referral: { type: "string" },
      followup: { type: "string" },
    },
  });
  if (!opts.kontakt || !opts.referral || !opts.followup) {
    fail("usage: scenario.ts --kontakt BIN --referral HOST:PORT --followup HOST:PORT");
  }

  // gRPC over HTTP/2, one connection per service.
  const grpc: Transport = createGrpcTransport({ baseUrl: `http://${opts.referral}` });
  const referral = createClient(ReferralService, grpc);
  const feed = createClient(EventFeedService, grpc);
  const followup = createClient(
    FollowUpService,
    createGrpcTransport({ baseUrl: `http://${opts.followup}` }),
  );
  const counsellor = auth(token(opts.kontakt, "counsellor", RINGSTED));
  const caseSystem = auth(token(opts.kontakt, "case_system", RINGSTED));
  const parent = `municipalities/${RINGSTED}`;
  const run = randomUUID().replaceAll("-", "").slice(0, 8);

  let person;
  try {
    person = await referral.createPerson(
      { parent, cpr: CPR, displayName: "TypeScript Barn" },
      counsellor,
    );
  } catch (err) {
    // Run again on the same data: the person is already there.
    const code = ConnectError.from(err).code;
    check(code === Code.AlreadyExists, `CreatePerson: ${Code[code]}`);
    person = await referral.lookupPerson({ parent, cpr: CPR }, counsellor);
  }
  check(!person.name.includes(CPR), `person ${person.name} is named without the CPR number`);

  const kase = await referral.createCase(
    {
      parent,
      case: {
        caseSystem: "typescript-case-system",
        externalId: `TS-${run}`,
        kleNumber: "27.27.24",
        person: person.name,
      },
    },
    counsellor,
  );
  const requestId = `ts-${run}`;
  const draft = await referral.createReferral(
    { parent, referral: { case: kase.name }, requestId },
    counsellor,
  );
  const retried = await referral.createReferral(
    { parent, referral: { case: kase.name }, requestId },
    counsellor,
  );
  check(retried.name === draft.name, "a retried CreateReferral gives the same referral (R-RV-10)");

  // Submitting the empty draft names every broken rule.
  const empty = await refused(
    referral.submitReferral({ name: draft.name }, counsellor),
    "an empty draft",
  );
  check(
    empty.code === Code.FailedPrecondition,
    `an empty draft is refused: ${empty.rawMessage.slice(0, 80)}...`,
  );

  await referral.updateReferral(
    {
      referral: {
        name: draft.name,
        recipient: Recipient.CHILD,
        targetGroups: [TargetGroup.CRIME_RISK],
        needs: { description: "a calm adult who likes football" },
        requestedMinutesPerWeek: 180,
        purpose: "stable school attendance",
        expectedDurationMonths: 12,
        legalBasis: "legalBases/bl-32-1-3",
        consent: {
          custodyHolderConsented: true,
          consentDate: day(2026, 11, 1),
          childView: "wants someone to talk to",
        },
        networkStatement: "no family nearby",
      },
      updateMask: { paths: ["*"] },
    },
    counsellor,
  );
  await referral.createAssessment(
    {
      parent: draft.name,
      assessment: {
        kind: AssessmentKind.CHILD_ASSESSMENT,
        needKnownDate: day(2026, 9, 1),
        completionDate: day(2026, 10, 1),
        conclusion: "needs a fixed adult",
      },
    },
    counsellor,
  );
  const submitted = await referral.submitReferral({ name: draft.name }, counsellor);
  check(submitted.state === ReferralState.SUBMITTED, "the referral is submitted");

  const decision = await referral.decideReferral(
    {
      name: draft.name,
      outcome: DecisionOutcome.APPROVE,
      approvalLevel: ApprovalLevel.OWN_AUTHORITY,
      minutesPerWeek: 180,
      startDate: day(2026, 12, 1),
      expectedEndDate: day(2027, 11, 30),
    },
    counsellor,
  );
  const grant = await referral.getGrant({ name: decision.grant }, counsellor);
  check(
    grant.state === GrantState.ACTIVE && grant.minutesPerWeek === 180,
    `GetGrant ${grant.name}: active, 180 minutes a week`,
  );

  // The case system's subscription: its municipality's GrantApproved for this grant.
  const approved = await awaitApproval(feed, caseSystem, grant.name, 0n);
  check(approved, "GrantApproved arrived on the feed");
  check(
    approved.event.followUpIntervalMonths === 6,
    "with Ringsted's 6-month follow-up interval",
  );

  // The follow-up service made the schedule from that event.
  let schedule: Schedule | undefined;
  for (let i = 0; i < 100 && !schedule; i++) {
    try {
      schedule = await followup.getSchedule({ name: `${grant.name}/followUpSchedule` }, counsellor);
    } catch (err) {
      if (ConnectError.from(err).code !== Code.NotFound) throw err;
      await sleep(200);
    }
  }
  check(schedule, "the follow-up schedule exists");
  const first = schedule.firstDueDate;
  check(
    first?.year === 2027 && first.month === 3 && first.day === 1,
    "first follow-up due 2027-03-01 (BL §95's 3 months beat the policy's 6)",
  );
  console.log("typescript client over gRPC: the scenario passed");

  // gRPC-Web over HTTP/1.1 with fetch, on the services' own addresses: what a browser would
  // send. Each answer must be the one gRPC gave, and come back as gRPC-Web.
  const answered: string[] = [];
  const webFetch: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    answered.push(response.headers.get("content-type") ?? "");
    return response;
  };
  const web = createGrpcWebTransport({ baseUrl: `http://${opts.referral}`, fetch: webFetch });
  const webReferral = createClient(ReferralService, web);
  const webFeed = createClient(EventFeedService, web);

  const webGrant = await webReferral.getGrant({ name: grant.name }, counsellor);
  const grantNow = await referral.getGrant({ name: grant.name }, counsellor);
  check(equals(GrantSchema, webGrant, grantNow), `gRPC-Web GetGrant ${grant.name}: the same grant`);

  const bases = await referral.listLegalBases({ pageSize: 100 }, counsellor);
  const webBases = await webReferral.listLegalBases({ pageSize: 100 }, counsellor);
  check(
    bases.legalBases.length > 0 && equals(ListLegalBasesResponseSchema, webBases, bases),
    `gRPC-Web ListLegalBases: the same ${bases.legalBases.length} legal bases`,
  );

  const missing = `${parent}/grants/g-${randomUUID()}`;
  const notFound = await refused(referral.getGrant({ name: missing }, counsellor), "a missing grant");
  const webNotFound = await refused(
    webReferral.getGrant({ name: missing }, counsellor),
    "a missing grant over gRPC-Web",
  );
  check(
    webNotFound.code === notFound.code && webNotFound.rawMessage === notFound.rawMessage,
    `gRPC-Web GetGrant of a missing grant: ${Code[webNotFound.code]}, as over gRPC`,
  );

  const anonymous = await refused(
    webReferral.getGrant({ name: grant.name }),
    "GetGrant without a token over gRPC-Web",
  );
  check(
    anonymous.code === Code.Unauthenticated,
    `gRPC-Web GetGrant without a token: ${Code[anonymous.code]}`,
  );

  // A server stream over gRPC-Web: the feed from just before the event gives the same envelope.
  const webApproved = await awaitApproval(
    webFeed,
    caseSystem,
    grant.name,
    approved.envelope.sequence - 1n,
  );
  check(
    webApproved !== undefined && equals(EnvelopeSchema, webApproved.envelope, approved.envelope),
    `gRPC-Web Subscribe: the same GrantApproved (sequence ${approved.envelope.sequence})`,
  );

  const webSchedule = await createClient(
    FollowUpService,
    createGrpcWebTransport({ baseUrl: `http://${opts.followup}`, fetch: webFetch }),
  ).getSchedule({ name: schedule.name }, counsellor);
  check(
    equals(ScheduleSchema, webSchedule, schedule),
    "gRPC-Web GetSchedule on the follow-up service: the same schedule",
  );
  check(
    answered.length === 6 && answered.every((type) => type === "application/grpc-web+proto"),
    `gRPC-Web: ${answered.length} calls over fetch, answered ${[...new Set(answered)].join(", ")}`,
  );
  console.log("typescript client over gRPC-Web: the scenario passed");
}

main().catch((err: unknown) => {
  const e = ConnectError.from(err);
  fail(`${Code[e.code] ?? e.code}: ${e.rawMessage}`);
});

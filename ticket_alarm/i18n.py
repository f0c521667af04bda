"""The message catalog: what the CLI, its hints and ``health`` say, in Korean (default) or English.

``TICKET_ALARM_LANG=en`` switches to English (``ko`` or unset: Korean). Log phrases the runbook
greps (``크롤링 완료``, ``크롤링 실패``, ``알림 전송``, ``알림 전송 실패``, ``메모리 사용량``), config
key names, check names and the Nagios states (``OK``/``WARNING``/…) are the same in both languages.

    from ticket_alarm.i18n import t
    t("health.daemon.ok", who="pid 42", beat="…")

Every entry has both languages with the same ``{fields}`` (a test checks it); an unknown key is a
bug and raises ``KeyError`` at once.
"""

from __future__ import annotations

import os

LANG_ENV = "TICKET_ALARM_LANG"
LANGUAGES = ("ko", "en")
_forced: str | None = None

# key → (Korean, English)
MESSAGES: dict[str, tuple[str, str]] = {
    # --- health -------------------------------------------------------------------------------
    "health.summary.ok": ("OK 전체: 점검 {count}개 모두 정상", "OK overall: all {count} checks OK"),
    "health.summary.bad": (
        "{status} 전체: 점검 {total}개 중 {bad}개가 정상이 아님 ({names})",
        "{status} overall: {bad} of {total} checks not OK ({names})",
    ),
    "health.config.ok": (
        "{config} 설정 정상: 사이트 {count}개 사용 ({sites}), {delivery}",
        "{config} valid: {count} site(s) enabled ({sites}), {delivery}",
    ),
    "health.config.routes": ("경로 {count}개", "{count} route(s)"),
    "health.config.dry_run": ("드라이 런 (웹훅 없음)", "dry run (no webhook)"),
    "health.none": ("없음", "none"),
    "health.data_dir.missing": (
        "data_dir {data_dir} 폴더가 아직 없습니다: 이 설정으로 데몬이 실행된 적이 없습니다. 데몬을 시작하거나"
        "(supervisorctl start ticket-alarm:monitor) 설정의 data_dir을 고친 뒤 다시 점검하세요.",
        "data_dir {data_dir} does not exist yet: the daemon has not run with this config. Start it "
        "(supervisorctl start ticket-alarm:monitor) or fix data_dir in the config, then check again.",
    ),
    "health.data_dir.no_store": (
        "{data_dir}에 저장소가 아직 없습니다({db} 없음): 이 data_dir로 데몬이 시작된 적이 없습니다. "
        "데몬을 시작한 뒤(supervisorctl start ticket-alarm:monitor) 다시 점검하세요.",
        "no store in {data_dir} yet ({db} is missing): the daemon has not started with this "
        "data_dir. Start it (supervisorctl start ticket-alarm:monitor), then check again.",
    ),
    "health.daemon.lock_unreadable": (
        "{data_dir}의 잠금 파일을 읽을 수 없습니다: {reason}",
        "cannot read the lock file in {data_dir}: {reason}",
    ),
    "health.daemon.no_beat": ("하트비트 없음", "no heartbeat yet"),
    "health.daemon.beat": ("하트비트 {age} 전", "heartbeat {age} ago"),
    "health.daemon.not_running": (
        "실행 중이 아님 (data_dir 잠금을 가진 프로세스 없음; {beat}). "
        "`supervisorctl status ticket-alarm:monitor`와 {log}를 확인하세요.",
        "not running (nobody holds the data_dir lock; {beat}). Check "
        "`supervisorctl status ticket-alarm:monitor` and {log}.",
    ),
    "health.daemon.pid": ("pid {pid}", "pid {pid}"),
    "health.daemon.pid_unknown": ("pid 알 수 없음", "pid unknown"),
    "health.daemon.starting": (
        "실행 중({who})이지만 {beat}: 아직 시작하는 중인가요?{rss}",
        "running ({who}) but {beat}: still starting?{rss}",
    ),
    "health.daemon.hung": (
        "실행 중({who})이지만 멈춤: {beat} (한도 {limit}); 재시작하세요: "
        "supervisorctl restart ticket-alarm:monitor{rss}",
        "running ({who}) but hung: {beat} (limit {limit}); restart it: "
        "supervisorctl restart ticket-alarm:monitor{rss}",
    ),
    "health.daemon.ok": ("실행 중({who}), {beat}{rss}", "running ({who}), {beat}{rss}"),
    "health.site.not_crawled": ("아직 크롤링 전", "not crawled yet"),
    "health.site.last_success": ("마지막 스윕 {age} 전", "last sweep {age} ago"),
    "health.site.storm": (
        "새 공지 {new}건 중 {held}건을 {age} 전 번호 변경으로 보고 보류했습니다"
        "(제목과 오픈 시각이 기존 공지와 같아 알림 없이 기록); 사이트를 확인하고 "
        "그중 하나를 `python -m ticket_alarm explain {site} ID`로 보세요",
        "{held} of {new} new notices held {age} ago as a renumbering (they match known notices by title "
        "and open time; recorded silently); check the site, and `python -m ticket_alarm explain {site} ID` "
        "for one of them",
    ),
    "health.store_writes": (
        "{problem} — 디스크 공간을 확보하거나 data_dir 마운트를 고치세요",
        "{problem} — free disk space / fix the data_dir mount",
    ),
    "health.head.off": ("헤드 폴링 꺼짐", "head polls off"),
    "health.head.none": ("헤드 폴링 없음 ({why})", "head polls: none ({why})"),
    "health.head.new": (", 새 공지 {count}건", ", {count} new"),
    "health.head.last": ("마지막 헤드 폴링 {age} 전{new}", "last head poll {age} ago{new}"),
    "health.head.not_yet": ("아직 헤드 폴링 없음", "no head poll yet"),
    "health.head.paused": (
        "Retry-After로 헤드 폴링 {left} 동안 멈춤",
        "head polls paused by Retry-After for {left}",
    ),
    "health.head.failing": (
        "헤드 폴링 {count}회 연속 실패 (마지막 오류: {error}); 새 공지는 다음 스윕을 기다립니다",
        "{count} failed head polls in a row (last error: {error}); new notices wait for the next sweep",
    ),
    "health.head.failures": (
        "최근 헤드 폴링 실패 {count}회: {error}",
        "{count} recent head poll failure(s): {error}",
    ),
    "health.site.notices": ("공지 {count}건", "{count} notices"),
    "health.site.no_success_yet": ("아직 성공한 크롤링 없음", "no successful crawl yet"),
    "health.site.locked": (
        "사이트가 이 클라이언트를 잠갔습니다(HTTP 423): {until}에 크롤링 재개 ({left} 후)",
        "the site locked this client (HTTP 423): crawls resume at {until} (in {left})",
    ),
    "health.site.never_worked": (
        "한 번도 크롤링에 성공하지 못함: 실패 {count}회 (마지막 오류: {error}); "
        "`python -m ticket_alarm test-crawlers {site}`를 실행해 보세요",
        "never crawled successfully: {count} failed crawl(s) (last error: {error}); "
        "run `python -m ticket_alarm test-crawlers {site}`",
    ),
    "health.site.streak": (
        "{count}회 연속 크롤링 실패 (마지막 오류: {error}); "
        "`python -m ticket_alarm test-crawlers {site}`를 실행해 보세요",
        "{count} failed crawls in a row (last error: {error}); run `python -m ticket_alarm "
        "test-crawlers {site}`",
    ),
    "health.site.recent_failures": ("최근 실패 {count}회: {error}", "{count} recent failure(s): {error}"),
    "health.site.stale": (
        "{age} 동안 성공한 크롤링 없음 (주기 {interval})",
        "no successful crawl for {age} (interval {interval})",
    ),
    "health.site.empty": (
        "{count}회 연속 공지 0건 (평소 {minimum}건 이상): 페이지 구조가 바뀌었을 수 있습니다; "
        "`python -m ticket_alarm test-crawlers {site}`를 실행해 보세요",
        "{count} crawls in a row found zero notices although the site usually lists {minimum} or more: "
        "the page layout may have changed; run `python -m ticket_alarm test-crawlers {site}`",
    ),
    "health.site.invalid": (
        "마지막 크롤링에서 잘못된 공지 {count}건을 건너뜀 (파서 고장?); "
        "`python -m ticket_alarm test-crawlers {site}`를 실행해 보세요",
        "{count} notice(s) skipped as invalid in the last crawl (parser breakage?); run "
        "`python -m ticket_alarm test-crawlers {site}`",
    ),
    "health.outbox.detail": (
        "대기 중인 알림 {pending}건, 가장 오래된 것 {age} 대기; 전송 {sent}건",
        "{pending} alert(s) pending, the oldest for {age}; {sent} sent",
    ),
    "health.outbox.stuck": (
        "{detail} — Discord 전송이 막혔습니다; 로그에서 알림 전송 실패를 찾아보세요",
        "{detail} — Discord deliveries are stuck; grep 알림 전송 실패",
    ),
    "health.outbox.slow": (
        "{detail} — 전송이 느리거나 실패하고 있습니다; 로그에서 알림 전송 실패를 찾아보세요",
        "{detail} — deliveries are slow or failing; grep 알림 전송 실패",
    ),
    "health.outbox.empty": ("비어 있음; 전송 {sent}건", "empty; {sent} sent"),
    "health.dead.recent": (
        "최근 24시간 동안 Discord가 영구 거부한 알림 {recent}건 (전체 {total}건); 마지막 오류: {error}",
        "{recent} alert(s) Discord refused permanently in the last 24h ({total} in all); last error: {error}",
    ),
    "health.dead.none": ("최근 24시간 동안 없음 (전체 {total}건)", "none in the last 24h ({total} in all)"),
    "health.webhooks.none": (
        "웹훅이 설정되지 않음: 드라이 런이라 알림은 monitor.out.log에만 출력됩니다; "
        "discord_webhook_url 또는 routes를 설정하세요",
        "no webhook configured: dry run, alerts are only printed to monitor.out.log; set "
        "discord_webhook_url or routes",
    ),
    "health.webhook.gone": (
        "{url}가 HTTP {status}로 답합니다: 웹훅이 삭제됐거나 토큰이 틀렸습니다; Discord에서 새 웹훅을 "
        "만들어 설정에 넣고 재시작하세요",
        "{url} answers HTTP {status}: the webhook was deleted or its token is wrong; create a new "
        "webhook in Discord, put its URL in the config and restart",
    ),
    "health.webhook.broken": (
        "웹훅이 {reason}로 답한 뒤 이 경로의 전송이 멈췄습니다; URL을 고치고 재시작하세요 "
        "(supervisorctl restart ticket-alarm:monitor)",
        "delivery on this route is stopped since the webhook answered {reason}; fix the URL "
        "and restart (supervisorctl restart ticket-alarm:monitor)",
    ),
    "health.webhook.not_probed": ("{url} (확인 안 함)", "{url} (not probed)"),
    "health.webhook.unreachable": (
        "{url}: 여기서 Discord에 닿을 수 없습니다 (네트워크 또는 DNS)",
        "{url}: Discord is unreachable from here (network or DNS)",
    ),
    "health.webhook.ok": ("{url}가 200으로 답합니다", "{url} answers 200"),
    "health.webhook.status": ("{url}가 HTTP {status}로 답합니다", "{url} answers HTTP {status}"),
    "health.cpu": ("{used:.0f}% 사용 ({warn:g}% 넘으면 경고)", "{used:.0f}% used (warn above {warn:g}%)"),
    "health.dir.missing": (
        "{path} 폴더가 없습니다; 만드세요 (deploy/install.sh가 만듭니다)",
        "{path} does not exist; create it (deploy/install.sh does)",
    ),
    "health.dir.not_writable": (
        "{path}에 이 사용자가 쓸 수 없습니다; 소유자/권한을 고치세요",
        "{path} is not writable by this user; fix its owner/permissions",
    ),
    "health.dir.unreadable": (
        "{path}: 디스크 사용량을 읽을 수 없습니다 ({reason})",
        "{path}: cannot read the disk usage ({reason})",
    ),
    "health.dir.detail": (
        "{path} 쓰기 가능, 디스크 {percent:.0f}% 사용, {free:.1f} GB 남음",
        "{path} writable, disk {percent:.0f}% used, {free:.1f} GB free",
    ),
    "health.dir.full": (
        "{detail} — 거의 꽉 찼습니다: 저장소가 쓸 수 없습니다; 공간을 비우세요",
        "{detail} — almost full: the store cannot write; free some space",
    ),
    "health.dir.warn": ("{detail} ({warn:g}% 넘으면 경고)", "{detail} (warn above {warn:g}%)"),
    "health.notify.no_url": (
        "health --notify: health.ops_webhook_url이 설정되지 않아 알리지 않았습니다",
        "health --notify: health.ops_webhook_url is not set; nothing notified",
    ),
    "health.notify.refused": (
        "health --notify: 운영 웹훅 {url}가 메시지를 받지 않았습니다: {reason}",
        "health --notify: the ops webhook {url} did not take the message: {reason}",
    ),
    "health.notify.posted": (
        "health --notify: 상태 {previous} → {status}를 운영 웹훅에 알렸습니다",
        "health --notify: state {previous} → {status} posted to the ops webhook",
    ),
    "health.notify.no_folder": (
        "health --notify: data_dir도 log_dir도 없어 상태를 기억하지 못합니다",
        "health --notify: neither data_dir nor log_dir exists; the state is not remembered",
    ),
    "health.notify.unwritable": (
        "health --notify: {path}에 상태를 기억할 수 없습니다: {reason}",
        "health --notify: cannot remember the state in {path}: {reason}",
    ),
    "health.failed": ("점검 자체가 실패했습니다: {error}", "the check itself failed: {error}"),
    # --- config -------------------------------------------------------------------------------
    "config.not_found": (
        "{path}: 설정 파일이 없습니다 (config file not found). config.example.json을 {path}로 복사하세요 "
        "(또는 --config PATH / {env} 지정).",
        "{path}: config file not found. Copy config.example.json to {path} (or pass --config "
        "PATH / set {env}).",
    ),
    "config.unreadable": (
        "{path}: 설정 파일을 읽을 수 없습니다 ({reason}); 권한을 확인하세요.",
        "{path}: cannot read the config file ({reason}); check its permissions.",
    ),
    "config.bad_json": (
        "{path}:{line}:{column}: JSON 오류 (invalid JSON): {reason}. 그 위치를 고치세요 "
        "(JSON에는 주석과 끝에 붙은 쉼표를 쓸 수 없습니다).",
        "{path}:{line}:{column}: invalid JSON: {reason}. Fix the file at that position "
        "(JSON allows no comments and no trailing commas).",
    ),
    "config.not_object": (
        "{path}: 최상위는 JSON 객체 {{...}}여야 합니다 (top level: {kind}).",
        "{path}: the top level must be a JSON object {{...}}, not {kind}.",
    ),
    "config.invalid": (
        "{source}: 설정 오류 (invalid configuration): {problems}. 모든 키와 형식은 config.example.json과 "
        "README의 설정 표를 보세요.",
        "{source}: invalid configuration: {problems}. See config.example.json and the README's "
        "config table for every key and its type.",
    ),
    "config.unknown_key": ("알 수 없는 키 (unknown key)", "unknown key"),
    "config.did_you_mean": ("; 혹시 `{key}`? (did you mean `{key}`?)", "; did you mean `{key}`?"),
    "config.webhook_shape": (
        "https://discord.com/api/webhooks/{{id}}/{{token}} 형태여야 합니다 "
        "(discordapp.com, canary./ptb. 호스트와 /api/v10/ 접두사도 됨; "
        "테스트용으로는 http://127.0.0.1:PORT의 같은 경로); "
        "Discord에서 복사하세요: 채널 설정 → 연동 → 웹후크 → 웹후크 URL 복사",
        "expected https://discord.com/api/webhooks/{{id}}/{{token}} (discordapp.com, canary./ptb. hosts "
        "and an /api/v10/ prefix are accepted; for tests, the same path on http://127.0.0.1:PORT); "
        "copy it from Discord: channel settings → Integrations → Webhooks → Copy Webhook URL",
    ),
    "config.not_webhook": (
        "Discord 웹훅 URL이 아닙니다 (not a Discord webhook URL); {shape}",
        "not a Discord webhook URL; {shape}",
    ),
    "config.catch_all_name": (
        "routes: 이름 {name!r}는 discord_webhook_url(어느 경로도 받지 않은 공지를 받는 웹훅)의 것입니다; "
        "그 경로의 이름을 바꾸세요",
        "routes: the name {name!r} belongs to discord_webhook_url (the catch-all that receives what no "
        "route takes); rename that route",
    ),
    "config.legacy_conflict": (
        "{path}: DISCORD_WEBHOOK_URL과 discord_webhook_url이 서로 다른 값입니다 (both set); "
        "discord_webhook_url만 남기세요.",
        "{path}: both DISCORD_WEBHOOK_URL and discord_webhook_url are set to different values; "
        "keep only discord_webhook_url.",
    ),
    "config.env_unknown": (
        "환경 변수 {name}: 알 수 없는 키 {key!r} (unknown key){suggestion}; TICKET_ALARM_<KEY>는 설정 키를 "
        "덮어씁니다 (중첩은 __, 예: TICKET_ALARM_HTTP__TIMEOUT). 이름을 고치거나 지우세요.",
        "environment variable {name}: unknown key {key!r}{suggestion}; TICKET_ALARM_<KEY> overrides a "
        "config key (nested with __, e.g. TICKET_ALARM_HTTP__TIMEOUT). Fix its name or unset it.",
    ),
    "config.unknown_site": (
        "{source}: sites.{site}: 알 수 없는 사이트 (unknown site); 아는 사이트: {known}.",
        "{source}: sites.{site}: unknown site; known sites: {known}.",
    ),
    "config.unknown_route_site": (
        "{source}: routes[{route}].sites: 알 수 없는 사이트 {site!r} (unknown site); 아는 사이트: {known}.",
        "{source}: routes[{route}].sites: unknown site {site!r}; known sites: {known}.",
    ),
    "config.placeholder": (
        "예시의 자리표시자일 뿐 실제 웹훅이 아닙니다 (the example's placeholder, not a real webhook): URL "
        "전체를 내 웹훅으로 바꾸세요 (Discord: 채널 설정 → 연동 → 웹후크 → 새 웹후크 → 웹후크 URL 복사; "
        "Integrations → Webhooks → New Webhook → Copy Webhook URL)",
        "this is the example's placeholder, not a real webhook: replace the whole URL with your own "
        "(Discord: channel settings → Integrations → Webhooks → New Webhook → Copy Webhook URL)",
    ),
    # --- cli ----------------------------------------------------------------------------------
    "cli.valid": ("{source}: 설정 정상 (configuration is valid)", "{source}: configuration is valid"),
    "cli.no_config_file": (
        "설정 파일 없음: 기본값과 환경 변수 (no config file: defaults and environment)",
        "no config file: defaults and environment",
    ),
    "cli.running_on_defaults": (
        "{path} 없음: 기본값과 환경 변수로 실행합니다 (config.example.json 참고)",
        "no {path} found: running on defaults and the environment (see config.example.json)",
    ),
    "cli.delivery": ("전달: {text}", "delivery: {text}"),
    "cli.delivery.routes_and_catch_all": (
        "공지는 맞는 경로마다 갑니다 ({names}); 어느 경로에도 맞지 않는 공지는 discord_webhook_url"
        "(나머지 전부 받는 웹훅)로 갑니다",
        "each notice goes to every route that matches ({names}); a notice that matches no route goes "
        "to discord_webhook_url (the catch-all)",
    ),
    "cli.delivery.routes_only": (
        "공지는 맞는 경로마다 갑니다 ({names}); 어느 경로에도 맞지 않는 공지는 보내지 않습니다 "
        "(그것도 받으려면 discord_webhook_url을 설정하세요)",
        "each notice goes to every route that matches ({names}); a notice that matches no route is "
        "not sent (set discord_webhook_url to receive those too)",
    ),
    "cli.delivery.catch_all": (
        "모든 공지가 discord_webhook_url로 갑니다",
        "every notice goes to discord_webhook_url",
    ),
    "cli.delivery.dry_run": (
        "웹훅 없음: 드라이 런, 알림은 표준 출력에 찍힙니다",
        "no webhook configured: dry run, alerts are printed to stdout",
    ),
    "cli.max_rss_low": (
        "max_rss_mb {ceiling:g} MB는 데몬의 평소 크기(약 {normal} MB)보다 작습니다: 크롤링할 때마다 종료되고 "
        "재시작됩니다. 로그의 메모리 사용량의 2~3배로 두거나 지우세요.",
        "max_rss_mb {ceiling:g} MB is below the daemon's normal size (about {normal} MB): it would exit "
        "and be restarted after every crawl. Set it to 2–3× the 메모리 사용량 the log shows, or remove it.",
    ),
    "cli.explain.no_store": (
        "data_dir {data_dir}: 저장소가 아직 없습니다 (이 설정으로 크롤링한 적이 없음).",
        "data_dir {data_dir}: no store yet (nothing was crawled with this config).",
    ),
    "cli.explain.not_found": (
        "explain: {site} 공지 {id!r}가 {data_dir}의 기록에 없습니다",
        "explain: {site} notice {id!r} is not in the history of {data_dir}",
    ),
    "site.skipped_locked": (
        "사이트가 이 클라이언트를 잠갔습니다 (HTTP 423){why}; {until}에 크롤링 재개 ({left} 후)",
        "the site locked this client (HTTP 423){why}; crawls resume at {until} (in {left})",
    ),
    "site.skipped_retry_after": (
        "사이트가 Retry-After로 기다리라고 했습니다{why}; {until}에 헤드 폴링 재개 ({left} 후)",
        "the site asked to wait (Retry-After){why}; head polls resume at {until} (in {left})",
    ),
    "site.skipped_first_sweep": (
        "첫 스윕이 기록을 채울 때까지 헤드 폴링을 기다립니다",
        "head polls wait for the first sweep to fill history",
    ),
    "site.skipped_no_order": (
        "등록순 목록이 없어 스윕만 합니다",
        "no registration order: swept only",
    ),
    # --- history ------------------------------------------------------------------------------
    "history.cut": (
        "(최신 {limit}건만 표시; 더 있습니다: --limit을 늘리거나 검색어를 좁히세요)",
        "(the newest {limit} shown; more match: raise --limit or narrow TEXT)",
    ),
    "history.cut_log": (
        "history search: {text!r}에 맞는 공지가 {limit}건보다 많습니다; 최신 {limit}건만 표시합니다 "
        "(--limit을 늘리세요)",
        "history search: more than {limit} notices match {text!r}; the newest {limit} are shown "
        "(raise --limit)",
    ),
    "history.nothing": (
        "history search: {text!r}에 맞는 공지가 없습니다",
        "history search: nothing matches {text!r}",
    ),
    "history.imported": (
        "가져옴: {added}건 추가, {known}건은 이미 있음",
        "imported: {added} added, {known} already known",
    ),
    "history.outbox": (
        "대기열: 대기 {pending}, 전송 {sent}, 실패(dead) {dead}",
        "outbox: pending {pending}, sent {sent}, dead {dead}",
    ),
    "history.legacy": (
        "예전 기록 키 (history import): {imported}개 가져옴, 그중 {matched}개는 크롤링에서 만남",
        "legacy keys (history import): {imported} imported, {matched} met by a crawl",
    ),
    "history.import.summary": (
        "history import: 항목 {total}개 읽음 (사이트+id 기록 {records}개, 해시 {hashes}개): {added}개 추가, "
        "{known}개는 이미 있음",
        "history import: {total} entries read ({records} records with site + id, {hashes} opaque hashes): "
        "{added} added, {known} already known",
    ),
    "history.import.unknown_sites": (
        "history import: 이 프로그램이 모르는 사이트 (받은 그대로 저장; 그 이름의 크롤러가 생기기 전에는 "
        "아무것과도 맞지 않음): {sites}",
        "history import: sites not known to this program (stored as given; they match nothing until a "
        "crawler with that name exists): {sites}",
    ),
    "history.import.missing": (
        "{path}: 그런 파일이 없습니다; 아무것도 가져오지 않았습니다.",
        "{path}: no such file; nothing imported.",
    ),
    "history.import.unreadable": (
        "{path}: 읽을 수 없습니다 ({reason}); 아무것도 가져오지 않았습니다.",
        "{path}: cannot read it ({reason}); nothing imported.",
    ),
    "history.import.bad_json": (
        "{path}:{line}:{column}: JSON 오류 (invalid JSON: {reason}); 파일이 깨졌거나 잘렸습니다. "
        "아무것도 가져오지 않았습니다.",
        "{path}:{line}:{column}: invalid JSON ({reason}); the file is corrupt or cut short. "
        "Nothing imported.",
    ),
    "history.import.bad_entry": (
        "{problem}. 아무것도 가져오지 않았습니다; 그 항목을 고치거나 지우고 다시 실행하세요.",
        "{problem}. Nothing imported; fix or remove that entry and run again.",
    ),
    # --- routing verdicts (explain) -----------------------------------------------------------
    "route.site": ("사이트 {site}가 sites {sites}에 없음", "site {site} is not in sites {sites}"),
    "route.category": (
        "분류 {category}가 categories {categories}에 없음",
        "category {category} is not in categories {categories}",
    ),
    "route.exclusive": (
        "exclusive_only인데 단독판매가 아님",
        "exclusive_only, and the notice is not 단독판매",
    ),
    "route.genre": (
        "장르 {genre!r}가 genres {genres} 어디에도 맞지 않음",
        "genre {genre!r} matches none of genres {genres}",
    ),
    "route.no_genre": ("(없음)", "(none)"),
    "route.no_include": (
        "include 키워드가 하나도 맞지 않음 (include {include})",
        "no include keyword matches (include {include})",
    ),
    "route.excluded": ("exclude 키워드 {keyword!r}가 맞음", "exclude keyword {keyword!r} matches"),
    "route.included": ("include {keyword!r}가 맞음", "include {keyword!r} matches"),
    "route.no_filter": ("걸러내는 조건 없음", "no filter excludes it"),
    "route.catch_all.taken": (
        "경로 {route}가 받음; 나머지 웹훅은 어느 경로도 받지 않은 공지만 받습니다",
        "route {route} takes it; the catch-all receives only what no route takes",
    ),
    "route.catch_all.matched_no_route": (
        "어느 경로에도 맞지 않음 (matched no route): 나머지 웹훅 discord_webhook_url이 받습니다",
        "matched no route: the catch-all discord_webhook_url receives it",
    ),
    "route.catch_all.only": (
        "discord_webhook_url이 모든 공지를 받습니다",
        "discord_webhook_url receives every notice",
    ),
    "route.dry_run": ("웹훅 없음: 출력만 함", "no webhook configured: printed"),
    "explain.matched_no_route": (
        "어느 경로에도 맞지 않았고 (matched no route) 나머지 웹훅 discord_webhook_url도 없습니다; "
        "위의 경로별 판정을 보세요",
        "matched no route, and no catch-all discord_webhook_url is set; see each route's verdict above",
    ),
    "explain.first_crawl": (
        "첫 크롤링은 알림 없이 기록만 합니다 (notify_on_first_run으로 바꿀 수 있음)",
        "a first crawl fills history silently unless notify_on_first_run",
    ),
}


def language() -> str:
    """``en`` when TICKET_ALARM_LANG says English, else ``ko`` (the operators' language)."""
    if _forced is not None:
        return _forced
    return "en" if os.environ.get(LANG_ENV, "").strip().lower().startswith("en") else "ko"


def set_language(lang: str | None) -> None:
    """Force a language for this process (None: follow TICKET_ALARM_LANG again)."""
    global _forced
    if lang is not None and lang not in LANGUAGES:
        raise ValueError(f"language {lang!r}: expected one of {', '.join(LANGUAGES)}")
    _forced = lang


def t(key: str, /, **fields: object) -> str:
    """The message ``key`` in the current language, with ``fields`` filled in."""
    korean, english = MESSAGES[key]
    return (english if language() == "en" else korean).format(**fields)

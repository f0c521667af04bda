"""The message catalog: what the CLI, its hints and ``health`` say, in Korean (default) or English.

``TICKET_ALARM_LANG=en`` switches to English (``ko`` or unset: Korean). Log phrases the runbook
greps (``크롤링 완료``, ``크롤링 실패``, ``알림 전송``, ``알림 전송 실패``, ``메모리 사용량``), config
key names, check names and the Nagios states (``OK``/``WARNING``/…) are the same in both languages.

    from ticket_alarm.i18n import t
    t("health.daemon.ok", who="pid 42", beat="…")

Every entry has both languages with the same ``{fields}`` (a test checks it); an unknown key is a
bug and raises ``KeyError`` at once. Call ``t`` where the text is made (when an error is raised, a
line printed), never in a module constant: that would freeze the language of import time (the
crawler plugin API's ``CHALLENGE_HINT`` & co. are resolved on each access for that reason). Table
headers are one entry with ``|`` between the columns. The sections follow the commands.
"""

from __future__ import annotations

import os
import re
import string

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
    "health.config.dry_run": ("시험 실행 (웹훅 없음)", "dry run (no webhook)"),
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
    "health.site.last_success": ("마지막 전체 확인 {age} 전", "last sweep {age} ago"),
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
    "health.head.off": ("빠른 확인 꺼짐", "head polls off"),
    "health.head.none": ("빠른 확인 없음 ({why})", "head polls: none ({why})"),
    "health.head.new": (", 새 공지 {count}건", ", {count} new"),
    "health.head.last": ("마지막 빠른 확인 {age} 전{new}", "last head poll {age} ago{new}"),
    "health.head.not_yet": ("아직 빠른 확인 없음", "no head poll yet"),
    "health.head.paused": (
        "Retry-After로 빠른 확인 {left} 동안 멈춤",
        "head polls paused by Retry-After for {left}",
    ),
    "health.head.failing": (
        "빠른 확인 {count}회 연속 실패 (마지막 오류: {error}); 새 공지는 다음 전체 확인을 기다립니다",
        "{count} failed head polls in a row (last error: {error}); new notices wait for the next sweep",
    ),
    "health.head.failures": (
        "최근 빠른 확인 실패 {count}회: {error}",
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
        "웹훅이 설정되지 않음: 시험 실행이라 알림은 monitor.out.log에만 출력됩니다; "
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
    # i19-ops: head polls off or stuck, said as a WARNING
    "health.head.off_warn": (
        "헤드 폴링 꺼짐: 새 공지는 다음 스윕({interval}마다)을 기다립니다. "
        "켜려면 head_interval을 초로 두세요 (사이트의 null은 최상위 값을 따르고, 끄기는 0 또는 false)",
        "head polls off: new notices wait for the next sweep (every {interval}). To turn them on give "
        "head_interval in seconds (a site's null takes the top-level value; off is 0 or false)",
    ),
    "health.head.stuck": (
        "헤드 폴링이 {age} 동안 성공하지 못했습니다 (head_interval의 3배 {limit} 초과); "
        "새 공지는 다음 스윕을 기다립니다",
        "head polls have not succeeded for {age} (over 3 × head_interval, {limit}); new notices wait for the "
        "next sweep",
    ),
    # i19-ops: what the running daemon tells health.ops_webhook_url (ticket_alarm/daemon/watch.py)
    "ops.queued": ("운영자 알림 대기열에 추가: {subject}: {title}", "ops message queued: {subject}: {title}"),
    "ops.title.bad": ("ticket-alarm 문제: {subject}", "ticket-alarm problem: {subject}"),
    "ops.title.ok": ("ticket-alarm 회복: {subject}", "ticket-alarm recovered: {subject}"),
    "ops.site.failing": (
        "{site} 크롤링이 {age} 동안 실패하고 있습니다 ({count}회 연속, 마지막 오류: {error}); "
        "이 사이트의 새 공지가 오지 않습니다",
        "{site} has been failing for {age} ({count} failed crawls in a row, last error: {error}); "
        "no new notices come from this site",
    ),
    "ops.site.ok": ("{site} 크롤링이 다시 성공합니다", "{site} crawls succeed again"),
    "ops.head.stuck": (
        "{site} 헤드 폴링이 {limit} 넘게 성공하지 못했습니다 (마지막 성공 {age} 전, 마지막 오류: {error}); "
        "새 공지는 다음 스윕을 기다립니다",
        "{site} head polls have not succeeded for over {limit} (last success {age} ago, last error: "
        "{error}); new notices wait for the next sweep",
    ),
    "ops.head.ok": ("{site} 헤드 폴링이 다시 성공합니다", "{site} head polls succeed again"),
    "ops.webhook.broken": (
        "경로 {route}의 웹훅이 멈췄습니다: {reason}; 이 경로로 알림이 가지 않습니다",
        "the webhook of route {route} is broken: {reason}; no alerts reach that route",
    ),
    "ops.webhook.ok": ("경로 {route}의 웹훅이 다시 받습니다", "the webhook of route {route} accepts again"),
    # --- config -------------------------------------------------------------------------------
    "config.not_found": (
        "{path}: 설정 파일이 없습니다. config.example.json을 {path}로 복사하세요 "
        "(또는 --config PATH / {env} 지정).",
        "{path}: config file not found. Copy config.example.json to {path} (or pass --config "
        "PATH / set {env}).",
    ),
    "config.unreadable": (
        "{path}: 설정 파일을 읽을 수 없습니다 ({reason}); 권한을 확인하세요.",
        "{path}: cannot read the config file ({reason}); check its permissions.",
    ),
    # i20-small: a config saved as UTF-16 or CP949 is not a permissions problem
    "config.encoding": (
        "{path}: 설정 파일이 UTF-8이 아닌 {encoding} 인코딩입니다 (not UTF-8). UTF-8로 바꾸세요: "
        "{command} 후 그 파일을 --config로 쓰거나 원래 이름으로 옮기세요 "
        "(메모장: 다른 이름으로 저장 → 인코딩 UTF-8).",
        "{path}: the config file is encoded as {encoding}, not UTF-8. Convert it: {command}, then pass "
        "that file with --config or move it over the original (Notepad: Save As → Encoding UTF-8).",
    ),
    "config.not_utf8": (
        "{path}: 설정 파일이 UTF-8이 아닙니다 (not UTF-8); 편집기에서 UTF-8로 다시 저장하세요.",
        "{path}: the config file is not UTF-8; save it again as UTF-8 from your editor.",
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
        "{source}: 설정 오류: {problems}. 모든 키와 형식은 config.example.json과 README의 설정 표를 보세요.",
        "{source}: invalid configuration: {problems}. See config.example.json and the README's "
        "config table for every key and its type.",
    ),
    "config.unknown_key": ("알 수 없는 키", "unknown key"),
    "config.did_you_mean": ("; 혹시 `{key}`?", "; did you mean `{key}`?"),
    "config.webhook_shape": (
        "https://discord.com/api/webhooks/{{id}}/{{token}} 형태여야 합니다 "
        "(discordapp.com, canary./ptb. 호스트와 /api/v10/ 접두사도 됨; "
        "테스트용으로는 http://127.0.0.1:PORT의 같은 경로); "
        "Discord에서 복사하세요: 채널 설정 → 연동 → 웹훅 → 웹훅 URL 복사",
        "expected https://discord.com/api/webhooks/{{id}}/{{token}} (discordapp.com, canary./ptb. hosts "
        "and an /api/v10/ prefix are accepted; for tests, the same path on http://127.0.0.1:PORT); "
        "copy it from Discord: channel settings → Integrations → Webhooks → Copy Webhook URL",
    ),
    "config.not_webhook": (
        "Discord 웹훅 URL이 아닙니다; {shape}",
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
        "{source}: sites.{site}: 알 수 없는 사이트; 아는 사이트: {known}.",
        "{source}: sites.{site}: unknown site; known sites: {known}.",
    ),
    "config.unknown_route_site": (
        "{source}: routes[{route}].sites: 알 수 없는 사이트 {site!r} (unknown site); 아는 사이트: {known}.",
        "{source}: routes[{route}].sites: unknown site {site!r}; known sites: {known}.",
    ),
    "config.placeholder": (
        "예시의 자리표시자일 뿐 실제 웹훅이 아닙니다: URL "
        "전체를 내 웹훅으로 바꾸세요 (Discord: 채널 설정 → 연동 → 웹훅 → 새 웹훅 → 웹훅 URL 복사)",
        "this is the example's placeholder, not a real webhook: replace the whole URL with your own "
        "(Discord: channel settings → Integrations → Webhooks → New Webhook → Copy Webhook URL)",
    ),
    # i19-ops: the ops lane's name is not a route's
    "config.ops_route_name": (
        "경로 이름 {name!r}은(는) health.ops_webhook_url의 운영자 알림에 쓰입니다; 경로 이름을 바꾸세요",
        "route name {name!r} is the lane of health.ops_webhook_url (ops messages); rename the route",
    ),
    # i21-ko: the config checks that were English only
    "config.web_token": (
        "공백 없이 출력 가능한 문자 12개 이상을 쓰세요. 예: "
        "`python -c 'import secrets; print(secrets.token_urlsafe(24))'`의 출력",
        "use at least 12 printable characters without spaces, e.g. the output of "
        "`python -c 'import secrets; print(secrets.token_urlsafe(24))'`",
    ),
    "config.control_char": (
        "{what} {value!r}에 제어 문자 U+{code:04X}가 있습니다; 출력 가능한 문자만 쓰세요",
        "{what} {value!r} contains the control character U+{code:04X}; use printable characters only",
    ),
    "config.store_url": (
        "postgresql://user:password@host:port/database 꼴이어야 합니다 (SQLite를 data_dir에 두려면 "
        "store_url을 비우세요), 받은 값: {shown}",
        "expected postgresql://user:password@host:port/database (or no store_url for SQLite in "
        "data_dir), got {shown}",
    ),
    "config.not_a_url": ("(URL 아님)", "(not a URL)"),
    "config.route_twice": (
        "경로 이름 {name!r}가 두 번 쓰였습니다; 경로마다 이름이 달라야 합니다",
        "route name {name!r} is used twice; each route needs its own name",
    ),
    # --- cli ----------------------------------------------------------------------------------
    "cli.valid": ("{source}: 설정 정상", "{source}: configuration is valid"),
    "cli.no_config_file": (
        "설정 파일 없음: 기본값과 환경 변수",
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
        "웹훅 없음: 시험 실행, 알림은 표준 출력에 찍힙니다",
        "no webhook configured: dry run, alerts are printed to stdout",
    ),
    "cli.max_rss_low": (
        "max_rss_mb {ceiling:g} MB는 데몬의 평소 크기(약 {normal} MB)보다 작습니다: 크롤링할 때마다 종료되고 "
        "재시작됩니다. 로그의 메모리 사용량의 2~3배로 두거나 지우세요.",
        "max_rss_mb {ceiling:g} MB is below the daemon's normal size (about {normal} MB): it would exit "
        "and be restarted after every crawl. Set it to 2–3× the 메모리 사용량 the log shows, or remove it.",
    ),
    # i21-ko: a mistyped command
    "cli.did_you_mean": (
        "알 수 없는 명령 {command!r}. 혹시 `{close}`?",
        "unknown command {command!r}. Did you mean `{close}`?",
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
        "사이트가 Retry-After로 기다리라고 했습니다{why}; {until}에 빠른 확인 재개 ({left} 후)",
        "the site asked to wait (Retry-After){why}; head polls resume at {until} (in {left})",
    ),
    "site.skipped_first_sweep": (
        "첫 전체 확인이 기록을 채울 때까지 빠른 확인을 기다립니다",
        "head polls wait for the first sweep to fill history",
    ),
    "site.skipped_no_order": (
        "등록순 목록이 없어 전체 확인만 합니다",
        "no registration order: swept only",
    ),
    # i19-ops: head polls off where the site could poll its newest page
    "cli.heads_off": (
        "헤드 폴링 꺼짐: {sites} — 새 공지는 스윕 간격(interval)마다만 알립니다. "
        "켜려면 head_interval을 초로 두세요 "
        "(sites.<이름>.head_interval의 null은 최상위 값을 따르고, 끄기는 0 또는 false)",
        "head polls off: {sites} — new notices are alerted only once per sweep (interval). To turn them on "
        "give head_interval in seconds (a null sites.<name>.head_interval takes the top-level value; "
        "off is 0 or false)",
    ),
    # i20-small: a TICKET_ALARM_LANG that names no language (bilingual: the reader's is unknown)
    "cli.lang_unknown": (
        "ticket-alarm: 경고: {env}={value!r}는 알 수 없는 언어라 한국어로 씁니다 (warning: unknown "
        "language, using Korean); 쓸 수 있는 값 (allowed): {allowed}",
        "ticket-alarm: warning: {env}={value!r} is not a known language and is ignored; allowed: {allowed}",
    ),
    # i21-fan: what the main channel receives; web.host open without a token
    "cli.delivery.routes_and_main_all": (
        "모든 공지가 discord_webhook_url(메인 채널)로 가고, 맞는 경로({names})에도 함께 갑니다 "
        '(main_receives "all"; 경로가 받은 공지를 메인 채널에서 빼려면 "unrouted")',
        "every notice goes to discord_webhook_url (the main channel), and also to each route that "
        'matches ({names}) (main_receives "all"; "unrouted" keeps routed notices out of the main channel)',
    ),
    "cli.web_open": (
        "web.host {host}: 이 컴퓨터 밖에서 닿는 주소인데 web.token이 없습니다. 닿는 누구나 현황 페이지와 "
        "캘린더를 봅니다. web.token을 설정하거나 web.host를 127.0.0.1로 두세요.",
        "web.host {host} is reachable beyond this machine and web.token is not set: anyone who reaches "
        "it sees the status page and the calendar. Set web.token or bind web.host to 127.0.0.1.",
    ),
    # i19-change: a changed notice waits for a prompt re-read (변경 확인 대기), not the next sweep
    "change.held": (
        "{site}: 공지 {id} 내용이 바뀜 ({fields}) — 변경 확인 대기: 다시 읽어 같으면 변경 알림",
        "{site}: notice {id} changed ({fields}) — awaiting confirmation: alerted once a re-read "
        "shows it again",
    ),
    "change.awaiting_count": (" (변경 확인 대기 {count}건)", " ({count} change(s) awaiting confirmation)"),
    "change.wait_head": (
        "{site}: 변경 확인 대기 {count}건 — 다음 빠른 확인이 다시 읽어 확인합니다 "
        "(그 페이지에서 빠지면 {seconds:.0f}초 뒤 목록을 다시 읽음)",
        "{site}: {count} change(s) awaiting confirmation — the next head poll re-reads them "
        "(the list is re-read in {seconds:.0f} s if they leave its page)",
    ),
    "change.wait_sweep": (
        "{site}: 변경 확인 대기 {count}건 — {seconds:.0f}초 뒤 목록을 다시 읽어 확인합니다",
        "{site}: {count} change(s) awaiting confirmation — the list is re-read in {seconds:.0f} s to confirm",
    ),
    "change.head_confirmed": (
        "변경: {site} {count}건 확인 (빠른 확인으로 재확인, {seconds:.1f}초)",
        "changes: {site} {count} confirmed (re-read by a head poll, {seconds:.1f} s)",
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
        "어느 경로에도 맞지 않음: 나머지 웹훅 discord_webhook_url이 받습니다",
        "matched no route: the catch-all discord_webhook_url receives it",
    ),
    "route.catch_all.only": (
        "discord_webhook_url이 모든 공지를 받습니다",
        "discord_webhook_url receives every notice",
    ),
    "route.dry_run": ("웹훅 없음: 출력만 함", "no webhook configured: printed"),
    "explain.matched_no_route": (
        "어느 경로에도 맞지 않았고 나머지 웹훅 discord_webhook_url도 없습니다; 위의 경로별 판정을 보세요",
        "matched no route, and no catch-all discord_webhook_url is set; see each route's verdict above",
    ),
    "explain.first_crawl": (
        "첫 크롤링은 알림 없이 기록만 합니다 (notify_on_first_run으로 바꿀 수 있음)",
        "a first crawl fills history silently unless notify_on_first_run",
    ),
    # i21-fan: main_receives "all" (routes add a channel)
    "route.main.all": (
        'main_receives "all": 어느 경로에도 맞지 않았지만 메인 채널 discord_webhook_url은 '
        "모든 공지를 받습니다",
        'main_receives "all": matched no route, and the main channel discord_webhook_url receives '
        "every notice",
    ),
    "route.main.all_also": (
        '경로 {route}도 받고, 메인 채널 discord_webhook_url도 모든 공지를 받습니다 (main_receives "all")',
        "route {route} takes it too; the main channel discord_webhook_url receives every notice "
        '(main_receives "all")',
    ),
    # i21-ko: explain's text (the --json document keeps its English keys and values)
    "explain.text.link": ("  링크: {url}", "  link: {url}"),
    "explain.text.open": (
        "  오픈: {open} | 구분: {category}{extra}",
        "  open: {open} | category: {category}{extra}",
    ),
    "explain.text.exclusive": (" | 단독판매", " | 단독판매"),
    "explain.text.venue": (" | 장소: {venue}", " | venue: {venue}"),
    "explain.text.seen": (
        "  처음 발견 {first}, 마지막 발견 {last}, 다이제스트 {digest}",
        "  first seen {first}, last seen {last}, digest {digest}",
    ),
    "explain.text.pending": (
        "  확인을 기다리는 변경: 다이제스트 {digest}, {cycles}번 봄, 오픈 {open}",
        "  change waiting for confirmation: digest {digest} seen {cycles} cycle(s), open {open}",
    ),
    "explain.text.digests": ("변경 기록:", "digest history:"),
    "explain.text.open_at": ("오픈 {open}", "open {open}"),
    "explain.text.routes": ("경로:", "routes:"),
    "explain.text.matched": ("받음", "matched"),
    "explain.text.skipped": ("안 받음", "skipped"),
    "explain.text.sent": ("보낸 알림:", "sent:"),
    "explain.text.nothing": ("  없음 ({why})", "  nothing ({why})"),
    "explain.text.sent_at": ("{at}에 보냄, 메시지 {message}", "sent {at} message {message}"),
    "explain.text.last_error": (" 마지막 오류: {error}", " last error: {error}"),
    "explain.text.row": (
        "  #{id} {kind} → {route} 대기열에 넣음 {queued}, {state}, 시도 {attempts}번{error}",
        "  #{id} {kind} → {route} queued {queued}, {state}, attempts {attempts}{error}",
    ),
    "explain.text.reminders": ("리마인더:", "reminders:"),
    "explain.text.due": ("예정 {due}", "due {due}"),
    "explain.event.first": ("처음", "first"),
    "explain.event.pending": ("변경 대기", "pending"),
    "explain.event.confirmed": ("변경 확정", "confirmed"),
    "explain.event.reverted": ("되돌아감", "reverted"),
    "explain.status.pending": ("대기 중", "pending"),
    "explain.status.sent": ("보냄", "sent"),
    "explain.status.dead": ("보내지 못함", "dead"),
    "explain.status.queued": ("대기열에 있음", "queued"),
    "explain.kind.new": ("새 공지", "new"),
    "explain.kind.change": ("변경", "change"),
    "explain.kind.reminder": ("리마인더", "reminder"),
    # --- crawler hints and the shared page checks (crawlers/base.py, crawlers/*.py) -----------------
    "crawl.hint.challenge": (
        "봇 확인 페이지(JavaScript 요구나 캡차): 사이트가 이 서버의 IP를 막고 있을 수 있습니다; "
        "설정의 `proxy`(proxy.http, proxy.https)에 다른 IP의 프록시를 넣어 보세요",
        "challenge page: the site may be blocking this IP; try `proxy`",
    ),
    "crawl.hint.moved": (
        "API가 아니라 사이트의 HTML 페이지입니다: 엔드포인트가 옮겨졌을 수 있습니다; 크롤러를 고쳐야 합니다 "
        "(base_url도 확인하세요)",
        "this is the site's HTML page, not the API: the endpoint may have moved; the crawler needs "
        "updating (check base_url too)",
    ),
    "crawl.hint.changed": (
        "API가 바뀌었습니다; 크롤러를 고쳐야 합니다",
        "the API changed; the crawler needs updating",
    ),
    "crawl.hint.empty_body": (
        "사이트가 아무것도 보내지 않았습니다; 사이트가 고장 났거나 이 IP를 막고 있을 수 있습니다 "
        "(`proxy`를 써 보세요)",
        "the site answered nothing; it may be failing or blocking this IP (try `proxy`)",
    ),
    "crawl.hint.truncated": (
        "연결이나 사이트가 페이지를 중간에 끊었습니다; 다음 주기에 다시 시도합니다",
        "the connection or the site cut the page; the next cycle retries it",
    ),
    "crawl.hint.needs_update": ("크롤러를 고쳐야 합니다", "the crawler needs updating"),
    "crawl.hint.bug": (
        "크롤러의 버그입니다; 로그와 함께 알려 주세요",
        "this is a bug in the crawler; please report it with the log",
    ),
    "crawl.hint.melon_layout": (
        "Melon 페이지 구조가 바뀌었습니다; crawlers/melon.py를 고쳐야 합니다",
        "Melon's page layout changed; crawlers/melon.py needs updating",
    ),
    "crawl.hint.melon_lock": (
        "Melon이 HTTP 423으로 답했습니다(너무 자주 요청하는 클라이언트를 제한합니다); "
        "sites.melon.lock_cooldown초 동안 크롤링하지 않습니다. 또 일어나면 sites.melon.interval을 늘리세요.",
        "Melon answered HTTP 423 (it throttles clients that poll too often); the crawler is left alone "
        "for sites.melon.lock_cooldown seconds. If it recurs, raise sites.melon.interval.",
    ),
    "crawl.hint.yes24_layout": (
        "공지 목록 구조가 바뀌었습니다; yes24 크롤러를 고쳐야 합니다",
        "the notice list layout changed; the yes24 crawler needs updating",
    ),
    "crawl.hint.interpark_refused": (
        "API가 바뀌었거나 요청을 거절했습니다; 크롤러를 고쳐야 합니다",
        "the API changed or refused the request; the crawler needs updating",
    ),
    "crawl.hint.ticketlink_error": (
        "API가 바뀌었거나 오류로 답했습니다; 크롤러를 고쳐야 할 수 있습니다",
        "the API changed or answered an error; the crawler may need updating",
    ),
    "crawl.hint.ticketlink_changed": (
        "API가 바뀌었습니다; 크롤러를 고쳐야 할 수 있습니다",
        "the API changed; the crawler may need updating",
    ),
    "crawl.hint.custom_layout": (
        "페이지가 custom_sites[{name}]의 설명과 다릅니다; items/fields를 페이지와 맞춰 보세요",
        "the page is not what custom_sites[{name}] describes; check its items/fields against the page",
    ),
    "crawl.hint.custom_moved": (
        "목록이 아니라 사이트의 HTML 페이지입니다: 옮겨졌을 수 있습니다; custom_sites[{name}].url"
        "(과 sites.{name}.base_url)을 확인하세요",
        "this is the site's HTML page, not the list: it may have moved; check custom_sites[{name}]"
        ".url (and sites.{name}.base_url)",
    ),
    "crawl.empty_body": (
        "{where}에서 {expected} 대신 빈 본문이 왔습니다",
        "empty body where {expected} was expected from {where}",
    ),
    "crawl.challenge_page": (
        "{where}에서 {expected} 대신 봇 확인(챌린지) 페이지가 왔습니다",
        "a bot challenge page where {expected} was expected from {where}",
    ),
    "crawl.html_title": (" (제목 {title!r})", " (title {title!r})"),
    "crawl.html_page": (
        "{where}에서 {expected} 대신 사이트의 HTML 페이지{shown}가 왔습니다",
        "the site's HTML page{shown} where {expected} was expected from {where}",
    ),
    "crawl.bad_json": (
        "{where}의 JSON을 읽을 수 없습니다: {error}",
        "unparseable JSON from {where}: {error}",
    ),
    "crawl.no_ids": (
        "항목에 {id_field}가 없습니다: API가 바뀌었습니다 ({where}의 항목 {count}개; 키: {keys})",
        "items have no {id_field}: the API changed ({count} item(s) from {where}; keys: {keys})",
    ),
    "crawl.none": ("없음", "none"),
    "crawl.mostly_invalid": (
        "공지 {total}건 중 {bad}건이 검증에 실패했습니다 ({problems}): 페이지나 API가 바뀌었습니다",
        "{bad} of {total} notices fail validation ({problems}): the page or API changed",
    ),
    "crawl.page_repeated": (
        "페이지 {key!r}를 두 번째로 요청하게 됐습니다: API가 바뀌었습니다 (페이지 넘김이 끝나지 않음)",
        "page {key!r} was due a second time: the API changed (paging would loop)",
    ),
    "crawl.cursor_repeated": (
        "{label}이(가) 커서 {key!r}를 다시 보냈습니다: API가 바뀌었습니다 (페이지 넘김이 끝나지 않음)",
        "{label} repeated the cursor {key!r}: the API changed (paging would loop)",
    ),
    # i19-enrich: notices' second pages (ticket_alarm/core/notice_memo.py), one line per sweep
    "notice_pages.unreadable": (
        "공지 페이지: {count}건을 읽지 못함 ({reasons}), {kept}{waiting}",
        "notice pages: {count} unreadable ({reasons}), {kept}{waiting}",
    ),
    "notice_pages.waiting": ("; 그중 {waited}건은 재시도 대기 중", "; {waited} of them wait for their retry"),
    "notice_pages.shape": ("다른 형태의 페이지", "a page of another shape"),
    "notice_pages.unreachable": ("응답 없음", "no answer"),
    "notice_pages.kept_list_dates": (
        "목록의 날짜와 이전에 읽은 선예매를 유지",
        "kept the list's dates and the presales read before",
    ),
    "notice_pages.kept_schedule": ("이전에 읽은 오픈 일정을 유지", "kept the open schedule read before"),
    # i21-ko: what a crawl notes in the log (once, when it changes) and warns about
    "crawl.note.nol": ("출처: NOL", "source: NOL"),
    "crawl.note.group_members": (
        "그룹 공연 {count}건은 따로 된 줄 없이 그룹 안에만 있었습니다",
        "{count} group member(s) not listed as rows of their own",
    ),
    "crawl.note.notice_pages": (
        "선예매를 읽으려고 공지 페이지 {count}개를 읽었습니다",
        "read {count} notice page(s) for presales",
    ),
    "crawl.note.not_notices": (
        "공지가 아닌 줄 {count}개를 뺐습니다: {rows}",
        "{count} rows that are not notices left out: {rows}",
    ),
    "crawl.note.other_categories": (
        "{page}쪽: 다른 분류의 공지 {count}건을 건너뜀 (id {ids})",
        "page {page}: skipped {count} notice(s) of other categories (ids {ids})",
    ),
    "crawl.note.other_page": (
        "{page}쪽을 요청했는데 사이트가 {answered}쪽을 답했습니다",
        "asked for page {page}, the site answered page {answered}",
    ),
    "crawl.note.repeats": (
        "{page}쪽이 이미 본 공지를 되풀이합니다; 목록은 거기서 끝납니다",
        "page {page} repeats notices already seen; the list ends there",
    ),
    "crawl.note.no_id_title": (
        "id도 제목도 없는 항목 {count}개를 뺐습니다 (머리글이나 '글 없음' 줄)",
        "{count} items without id and title left out (header or 'no posts' rows)",
    ),
    "crawl.warn.source_switched": (
        "{first}이 {reason}로 답해 대신 {second}를 읽었습니다 (공지 번호가 같아 다시 알리는 것은 없음), "
        "앞으로도 그렇게 읽습니다",
        "{first} answered {reason}; read {second} instead (same notice ids, nothing is re-alerted), and "
        "from now on",
    ),
    "crawl.warn.full_page_seen": (
        "offset {offset}: 한 쪽 전체가 이미 본 공지라 페이지 넘김을 멈췄습니다",
        "offset {offset}: a full page of notices already seen; stopped paging",
    ),
    "crawl.warn.presales_unread": (
        "{id}: 공지 페이지를 읽지 못했습니다 ({reason}); 목록의 날짜만 두고 선예매 없이 보냅니다",
        "{id}: notice page unreadable ({reason}); kept the list's dates, without its presales",
    ),
    "crawl.warn.schedule_unread": (
        "{id}: 공지 페이지를 읽지 못했습니다 ({reason}); 오픈 일정 없이 보냅니다",
        "{id}: notice page unreadable ({reason}); sent without its open schedule",
    ),
    # i21-ko: why a post to Discord failed (discord/webhook.py): the log's 알림 전송 실패 line and
    # `outbox list`; the English words the runbook's table names stay in ( )
    "discord.timeout": (
        "{host}에서 {seconds:g}초 안에 답이 없음 (timeout after, {kind})",
        "timeout after {seconds:g}s ({kind}) on {host}",
    ),
    "discord.connection": (
        "{host}에 연결 실패 (connection failed, {kind})",
        "connection failed ({kind}) to {host}",
    ),
    "discord.rate_limited": (
        "429 요청 한도: {wait:g}초 기다림{what}",
        "429 rate limited for {wait:g}s{what}",
    ),
    "discord.not_json_429": (
        " (Discord의 JSON이 아님: Cloudflare나 프록시)",
        " (not Discord's JSON: Cloudflare or a proxy)",
    ),
    "discord.redirect": (
        "HTTP {status}: {where}(으)로 가라는 리다이렉트를 따르지 않았습니다 "
        "(중간에 프록시가 있거나 웹훅 호스트가 틀렸나요?)",
        "HTTP {status} redirect to {where} not followed (a proxy in the way, or a wrong webhook host?)",
    ),
    "discord.html_403": (
        "HTML 403은 보통 Cloudflare가 이 IP를 막은 것이지 웹훅이 삭제된 것이 아닙니다",
        "an HTML 403 is usually Cloudflare blocking this IP, not a deleted webhook",
    ),
    "discord.not_json": (
        "Discord의 JSON이 아님: 프록시나 Cloudflare가 답했습니다",
        "not Discord's JSON: a proxy or Cloudflare answered",
    ),
    # --- fetch hints (ticket_alarm/fetch/http.py) ---------------------------------------------------
    "http.hint.timeout": (
        "사이트가 느리거나 닿지 않습니다; http.timeout을 늘리세요",
        "the site is slow or unreachable; raise http.timeout",
    ),
    "http.hint.bad_redirect": (
        "사이트의 리다이렉트가 고장 났습니다; 브라우저로 사이트를 확인하세요",
        "the site's redirect is broken; check the site in a browser",
    ),
    "http.hint.network": (
        "DNS/네트워크나 proxy 설정을 확인하세요",
        "check DNS/network or the proxy setting",
    ),
    "http.hint.other_host": (
        "사이트가 옮겨졌거나 이 클라이언트를 다른 곳(로그인이나 차단 페이지?)으로 보냅니다; "
        "브라우저로 사이트를 확인하고, 설정했다면 base_url도 확인하세요",
        "the site moved or sends this client elsewhere (a login or block page?); "
        "check the site in a browser, and base_url if set",
    ),
    "http.hint.loop": (
        "사이트가 리다이렉트를 빙빙 돕니다(주로 쿠키나 로그인 확인); 브라우저로 확인하세요",
        "the site redirects in a circle (often a cookie or login check); check it in a browser",
    ),
    "http.hint.endless": (
        "사이트가 끝없이 리다이렉트합니다; 브라우저로 확인하세요",
        "the site redirects endlessly; check it in a browser",
    ),
    "http.hint.too_large": (
        "공지 목록이 아닙니다; 사이트가 커졌다면 http.max_response_bytes를 늘리세요",
        "not a notice list; raise http.max_response_bytes if the site grew",
    ),
    "http.hint.corrupt": (
        "응답이 오는 길에 망가졌습니다(프록시나 사이트); 다음 주기에 다시 시도합니다",
        "the response was damaged on the way (a proxy or the site); it is retried next cycle",
    ),
    "http.hint.challenge": (
        "봇 확인(챌린지) 페이지: 사이트가 이 IP를 막고 있을 수 있습니다 (봇 확인이 HTTP {status}로 답함); "
        "`proxy`를 써 보세요",
        "challenge page: the site may be blocking this IP (a bot challenge answered HTTP {status}); "
        "try `proxy`",
    ),
    "http.hint.refused": (
        "사이트가 이 클라이언트를 거절했습니다(데이터센터 IP이거나 헤더 부족); `proxy`를 써 보세요",
        "the site refused this client (datacenter IP or missing headers); try `proxy`",
    ),
    "http.hint.moved": (
        "엔드포인트가 옮겨졌습니다; 크롤러를 고쳐야 합니다 (base_url도 확인하세요)",
        "the endpoint moved; the crawler needs updating (check base_url too)",
    ),
    "http.hint.locked": (
        "사이트가 요청 제한으로 이 클라이언트를 잠갔습니다; "
        "sites.<name>.lock_cooldown 동안 크롤링하지 않습니다",
        "the site locked this client for throttling; it is left alone for sites.<name>.lock_cooldown",
    ),
    "http.hint.rate_limited": (
        "요청 한도 초과; 사이트의 interval이나 http.min_request_interval을 늘리세요",
        "rate limited; raise the site's interval or http.min_request_interval",
    ),
    "http.hint.failing": (
        "사이트가 고장 났습니다; 다음 주기에 다시 시도합니다",
        "the site is failing; it will be retried next cycle",
    ),
    # --- once (cli.py) ------------------------------------------------------------------------
    "once.dry_run": (
        "once: 사이트 {crawled}개 크롤링, 알림 {delivered}건 출력 (시험 실행: 아무것도 보내지 않음)",
        "once: {crawled} sites crawled, {delivered} alerts printed (dry run: nothing sent)",
    ),
    "once.delivered": (
        "once: 사이트 {crawled}개 크롤링, 알림 {delivered}건 전송",
        "once: {crawled} sites crawled, {delivered} alerts delivered",
    ),
    "once.undelivered": (
        "알림 전송 실패: once: 알림 {count}건을 전송하지 못했습니다 ({routes}); 대기열(outbox)에 남아 있고 "
        "다음 실행이 전송합니다",
        "알림 전송 실패: once: {count} alerts left undelivered ({routes}); they are kept in the outbox "
        "and the next run delivers them",
    ),
    # i21-ko: a line per site while `once` reads it (stderr)
    "once.progress": (
        "once: {site} 읽는 중 — 페이지 {pages}개 읽음, 공지 {notices}건까지",
        "once: reading {site} — {pages} page(s) read, {notices} notice(s) so far",
    ),
    "once.route": ("경로 {route}: {count}건 — {why}", "route {route}: {count} — {why}"),
    "once.why.broken": ("웹훅이 고장 났습니다 ({error})", "the webhook is broken ({error})"),
    "once.why.refused": ("거절됨", "refused"),
    "once.why.gone": ("이 경로가 더 이상 설정에 없습니다", "the route is not in the config any more"),
    "once.why.failing": (
        "기다리는 내내 Discord 전송이 실패했습니다 ({error})",
        "Discord failed for the whole wait ({error})",
    ),
    "once.why.slow": (
        "{waited:g}초 안에 전송하지 못했습니다 (요청 한도)",
        "not delivered within {waited:g}s (rate limits)",
    ),
    "cli.interrupted.run": (
        "중단됨 (SIGINT): 끝난 크롤링과 전송은 모두 저장됐습니다; 알림 {pending}건이 대기열(outbox)에서 "
        "다음 실행을 기다리며, 잃은 것은 없습니다",
        "interrupted (SIGINT): every finished crawl and delivery is kept; {pending} alerts wait in the "
        "outbox for the next run, nothing is lost",
    ),
    "cli.interrupted.other": (
        "중단됨 (SIGINT): {command}을(를) 멈췄습니다; 아무것도 쓰지 않았습니다",
        "interrupted (SIGINT): {command} stopped; nothing was written",
    ),
    "notify.stdout": (
        "표준 출력 (시험 실행: 웹훅이 설정되지 않아 Discord에는 아무것도 보내지 않음)",
        "stdout (dry run: no webhook configured, nothing sent to Discord)",
    ),
    # --- send-test (cli.py) -------------------------------------------------------------------
    "send_test.no_webhook": (
        "send-test: 웹훅이 설정되지 않음: 위에 출력만 하고 아무것도 보내지 않았습니다; "
        "discord_webhook_url 또는 routes를 설정하세요",
        "send-test: no webhook configured: printed above, nothing sent; set discord_webhook_url or routes",
    ),
    "send_test.sent": (
        "알림 전송: 1건 (send-test, 경로 {route}, 메시지 {message}) — {title}",
        "알림 전송: 1건 (send-test, route {route}, message {message}) — {title}",
    ),
    "send_test.broken": ("알림 전송 실패: send-test {text}", "알림 전송 실패: send-test {text}"),
    "send_test.failed": (
        "알림 전송 실패: send-test 경로 {route}: {error}",
        "알림 전송 실패: send-test route {route}: {error}",
    ),
    "send_test.no_store": (
        "send-test --sample {site}: data_dir {data_dir}에 저장소가 아직 없습니다; 보여 줄 공지가 있도록 "
        "먼저 `once`를 실행하세요",
        "send-test --sample {site}: data_dir {data_dir} has no store yet; run `once` first "
        "so there is a notice to show",
    ),
    "send_test.no_notice": (
        "send-test --sample {site}: {data_dir}의 기록에 아직 {site} 공지가 없습니다; "
        "`once`를 실행하세요 (사이트가 답하는지는 `test-crawlers {site}`로 확인)",
        "send-test --sample {site}: no {site} notice in the history of {data_dir} yet; "
        "run `once` (or `test-crawlers {site}` to see whether the site answers)",
    ),
    # --- test-crawlers (cli.py) ---------------------------------------------------------------
    "tc.file_one_site": (
        "test-crawlers --file에는 SITE가 정확히 하나 필요합니다. 예: test-crawlers melon --file page.html",
        "test-crawlers --file needs exactly one SITE, e.g. test-crawlers melon --file page.html",
    ),
    "tc.progress": (
        "점검 중 {finished}/{total} 완료; 기다리는 사이트: {waiting}",
        "checking {finished}/{total} done; waiting for {waiting}",
    ),
    "tc.head": ("빠른 확인 {site}: {text}", "head poll {site}: {text}"),
    "tc.head.none": (
        "없음 (등록순 목록이 없어 전체 확인만 함)",
        "none (no registration order: swept only)",
    ),
    "tc.head.failed": ("실패 {error}", "FAILED {error}"),
    "tc.head.ok": (
        "정상, 최신 페이지에 공지 {count}건 ({seconds:.2f}초)",
        "ok, {count} notices on the newest page ({seconds:.2f} s)",
    ),
    "tc.failed": ("실패", "failed"),
    "tc.cannot_read": ("{path}: 읽을 수 없습니다 ({reason})", "{path}: cannot read ({reason})"),
    "tc.notice_page": ("{site}: 공지 페이지 {name}", "{site}: notice page {name}"),
    "tc.no_presales": ("    (이 페이지에는 선예매가 없습니다)", "    (no presales on this page)"),
    # the column headers, | between columns (the rows are padded to the same display widths)
    "tc.columns": ("사이트|상태|HTTP|초|페이지|공지|무효", "SITE|STATUS|HTTP|SEC|PAGES|NOTICES|INVALID"),
    "tc.status.ok": ("정상", "ok"),
    "tc.status.failed": ("실패", "FAILED"),
    "tc.capped": (
        "    ! 페이지 한도에서 멈췄습니다 ({pages}페이지)",
        "    ! stopped at the page cap ({pages} pages)",
    ),
    "tc.more_warnings": (
        "    ! … 경고 {count}개 더 (--json이 모두 보여 줍니다)",
        "    ! … and {count} more warning(s) (--json lists them all)",
    ),
    "tc.hint": ("    힌트: {hint}", "    hint: {hint}"),
    # --- outbox (cli.py) ----------------------------------------------------------------------
    "outbox.on_route": (" (경로 {route})", " on route {route}"),
    "outbox.no_dead": (
        "outbox retry-dead: 실패(dead)한 알림이 없습니다{on}",
        "outbox retry-dead: no dead letters{on}",
    ),
    "outbox.requeued": (
        "outbox retry-dead: 실패(dead)한 알림 {count}건을 다시 대기열에 넣었습니다{on}; 실행 중인 데몬이 "
        "몇 초 안에 보냅니다 (또는 다음 `once`가)",
        "outbox retry-dead: {count} dead letters queued again{on}; the running daemon sends them within "
        "seconds (or the next `once`)",
    ),
    "outbox.columns": (
        "ID|상태|경로|종류|사이트|생성|시도|제목 / 오류",
        "ID|STATUS|ROUTE|KIND|SITE|CREATED|ATT|TITLE / ERROR",
    ),
    "cli.since.bad": (
        "--since {text!r}: ISO 날짜/시각(2026-12-01, 2026-12-01T09:00, 오프셋이 없으면 KST)이나 지금부터 "
        "거슬러 올라갈 기간(30m, 6h, 2d)을 쓰세요.",
        "--since {text!r}: expected an ISO date/time (2026-12-01, 2026-12-01T09:00, KST unless an "
        "offset is given) or a duration back from now (30m, 6h, 2d).",
    ),
    # --- upcoming (cli.py, upcoming.py) -------------------------------------------------------
    "cli.days.bad": (
        "{text!r}: 1에서 3660 사이의 일 수를 쓰세요",
        "{text!r}: give a number of days between 1 and 3660",
    ),
    "upcoming.no_store": (
        "data_dir {data_dir}: 저장소가 아직 없습니다 (이 설정으로 크롤링한 적이 없음): "
        "다가오는 오픈이 없습니다",
        "data_dir {data_dir}: no store yet (nothing crawled with this config): nothing upcoming",
    ),
    "upcoming.no_routes": (
        "없음: 웹훅도 routes도 설정되지 않음",
        "none: no webhook or routes configured",
    ),
    "upcoming.unknown_route": (
        "경로 {name!r}가 설정에 없습니다 (routes: {known}); 그중 하나의 이름을 쓰세요.",
        "route {name!r} is not in the config (routes: {known}); use one of those names.",
    ),
    "upcoming.unknown_site": (
        "사이트 {site!r}는 아는 사이트가 아닙니다 (sites: {known}).",
        "site {site!r} is not a known site (sites: {known}).",
    ),
    "upcoming.empty": (
        "기록에 다가오는 오픈이 없습니다 (이 조건으로)",
        "no upcoming opens in the history (with these filters)",
    ),
    "upcoming.columns": (
        "다음 판매 (KST)|사이트|제목|선예매|장소",
        "NEXT SALE (KST)|SITE|TITLE|PRESALES|VENUE",
    ),
    "upcoming.footer": (
        "다가오는 오픈 {count}건; 시각은 KST",
        "{count} upcoming open(s); times are KST",
    ),
    # i21-fan: the calendar feed's and the JSON's query (web.py)
    "web.bad_query": (
        "주소의 검색 조건을 읽을 수 없습니다: 한글은 URL 인코딩해서 보내세요 "
        "(예: ?q=%EC%84%B8%EB%B8%90%ED%8B%B4)",
        "the query string cannot be read: send Korean URL-encoded (e.g. ?q=%EC%84%B8%EB%B8%90%ED%8B%B4)",
    ),
    "web.bad_alarm": (
        "alarm={alarm!r}: 알림 시각은 분 단위 0~1440으로 주세요 (0은 알림 없음, 예: ?alarm=60)",
        "alarm={alarm!r}: give the reminder in minutes, 0 to 1440 (0: no alarm; e.g. ?alarm=60)",
    ),
    "web.rejected": (
        "현황 페이지: 읽을 수 없는 요청을 400으로 거절함 ({reason}); 주소의 한글은 URL 인코딩해야 합니다",
        "status page: an unreadable request was refused with 400 ({reason}); Korean in an address must be "
        "URL-encoded",
    ),
    "web.bad_days": (
        "days={days!r}: 1~3660 사이의 일수를 주세요",
        "days={days!r}: give a number of days between 1 and 3660",
    ),
    # --- backup / restore (backup.py) ---------------------------------------------------------
    "backup.no_store": (
        "{db}: 백업할 저장소가 없습니다 (데몬이 처음 시작할 때 만듭니다); 설정의 data_dir을 확인하세요.",
        "{db}: no store to back up (the daemon creates it on its first start); check data_dir in the config.",
    ),
    "backup.dest_create": (
        "백업 폴더 {dest}: 만들 수 없습니다 ({reason}).",
        "backup destination {dest}: cannot create it ({reason}).",
    ),
    "backup.dest_unwritable": (
        "백업 폴더 {dest}: 이 사용자가 쓸 수 없습니다; 권한을 고치세요.",
        "backup destination {dest}: not writable by this user; fix its permissions.",
    ),
    "backup.copy_of": ("{db}의 사본", "the copy of {db}"),
    "backup.failed": (
        "{dest}에 백업하지 못했습니다: {reason}; 디스크 여유 공간을 확인하세요.",
        "backup into {dest} failed: {reason}; check free disk space.",
    ),
    "backup.config_failed": (
        "{archive}은(는) 썼지만 설정 파일 복사에 실패했습니다: {config}: {reason}",
        "{archive} written, but the config copy failed: {config}: {reason}",
    ),
    "backup.no_config": (
        "backup: 복사할 설정 파일이 없습니다 (기본값/환경 변수로 실행 중)",
        "backup: no config file to copy (running on defaults/environment)",
    ),
    "backup.keep": (
        "--keep {keep}: 백업을 적어도 1개(방금 쓴 것)는 남기세요.",
        "--keep {keep}: keep at least 1 backup (the one just written).",
    ),
    "backup.config_copied": (", 설정 파일을 {config}에 복사", ", config copied to {config}"),
    "backup.removed": (", 오래된 파일 {count}개 삭제", ", {count} old file(s) removed"),
    "backup.written": (
        "backup: {archive} 씀 (기록 {rows}행){config}{removed}",
        "backup: {archive} written ({rows} history rows){config}{removed}",
    ),
    "restore.no_archive": (
        "{archive}: 그런 백업 파일이 없습니다; 백업 폴더에서 `ls -l`로 목록을 보세요.",
        "{archive}: no such archive; list them with `ls -l` in the backups folder.",
    ),
    "restore.corrupt": (
        "{archive}: 읽을 수 있는 .tar.gz가 아닙니다 (잘렸거나 깨짐: {reason}); 아무것도 바꾸지 않았습니다. "
        "다른 백업을 고르세요.",
        "{archive}: not a readable .tar.gz (truncated or corrupt: {reason}); nothing was changed. Pick "
        "another backup.",
    ),
    "restore.no_db": (
        "{archive}: {db}가 들어 있지 않습니다; ticket-alarm 백업이 맞나요? 아무것도 바꾸지 않았습니다.",
        "{archive}: holds no {db}; is it a ticket-alarm backup? Nothing was changed.",
    ),
    "restore.lock_unreadable": (
        "{data_dir}: 잠금 파일을 읽을 수 없습니다 ({reason}); restore를 서비스 사용자로 실행하세요 "
        "(root가 `ticket-alarm` 실행기를 쓰면 그렇게 합니다).",
        "{data_dir}: cannot read the lock file ({reason}); run restore as the service user "
        "(the `ticket-alarm` launcher does that when started by root).",
    ),
    "restore.a_process": ("어떤 프로세스", "a process"),
    "restore.running": (
        "데몬이 실행 중입니다 ({who}가 {data_dir}의 잠금을 가짐); restore를 거부했고 아무것도 바꾸지 "
        "않았습니다. 먼저 멈추세요: sudo supervisorctl stop ticket-alarm:monitor",
        "the daemon is running ({who} holds the lock on {data_dir}); restore refused, nothing was changed. "
        "Stop it first: sudo supervisorctl stop ticket-alarm:monitor",
    ),
    "restore.nothing_kept": ("없음 (저장소가 없었음)", "none (there was no store)"),
    "restore.done": (
        "restore: {archive}에서 {restored} 복원함 (스키마 {schema}, 기록 {rows}행); 이전 파일은 옆에 "
        "남겨 둠: {kept}. 데몬을 시작하세요: sudo supervisorctl start ticket-alarm:monitor",
        "restore: {restored} restored from {archive} (schema {schema}, {rows} history rows); previous "
        "files kept aside: {kept}. Start the daemon: sudo supervisorctl start ticket-alarm:monitor",
    ),
    # --- store migrate (store/postgres/transfer.py) -------------------------------------------
    "migrate.unknown_store": (
        "{path}: 이 버전이 복사할 수 있는 ticket-alarm 저장소가 아닙니다{unknown}; ticket-alarm을 "
        "업그레이드하거나, 저장소를 쓴 버전으로 복사하세요.",
        "{path}: not a ticket-alarm store this version can copy{unknown}; upgrade ticket-alarm, or copy "
        "the store with the version that wrote it.",
    ),
    "migrate.unknown_tables": (" (모르는 테이블: {tables})", " (unknown tables: {tables})"),
    "migrate.not_empty": (
        "{target}: 데이터베이스가 비어 있지 않습니다 ({counts}); `store migrate`는 빈 데이터베이스에만 "
        "복사하므로 기록을 합치거나 덮어쓰지 않습니다. 새 데이터베이스를 만들고(CREATE DATABASE …) "
        "--to로 가리키세요.",
        "{target}: the database is not empty ({counts}); `store migrate` copies only into an empty "
        "database, so no history is merged or overwritten. Create a new database (CREATE DATABASE …) "
        "and point --to at it.",
    ),
    "migrate.columns": (
        "{path}: 테이블 {table}에 이 PostgreSQL 스키마에 없는 열이 있습니다 ({missing}); "
        "`store migrate`를 실행하는 기계의 ticket-alarm을 업그레이드하세요.",
        "{path}: table {table} has columns this PostgreSQL schema lacks ({missing}); "
        "upgrade ticket-alarm on the machine that runs `store migrate`.",
    ),
    "migrate.count_mismatch": (
        "{target}: {table}: {path}에 {expected}행, 복사 {copied}행, 저장 {stored}행; 아무것도 커밋하지 "
        "않았습니다 (데이터베이스는 여전히 비어 있음). `store migrate`를 다시 실행하세요.",
        "{target}: {table}: {expected} rows in {path}, {copied} copied, {stored} stored; "
        "nothing was committed (the database is still empty). Run `store migrate` again.",
    ),
    "migrate.no_url": (
        "store migrate --to: PostgreSQL URL을 주세요 (postgresql://user:password@host/db)",
        "store migrate --to: give the PostgreSQL URL (postgresql://user:password@host/db)",
    ),
    "migrate.running": (
        "ticket-alarm 데몬(pid {pid})이 data_dir {data_dir}에서 실행 중입니다; 먼저 멈춘 뒤"
        "(supervisorctl stop ticket-alarm:monitor) 옮기세요.",
        "a ticket-alarm daemon (pid {pid}) is running on data_dir {data_dir}; stop it first "
        "(supervisorctl stop ticket-alarm:monitor), then migrate.",
    ),
    "migrate.done": (
        "store migrate: {source}을(를) {target}에 복사했습니다 ({copied}); store_url(또는 "
        "TICKET_ALARM_STORE_URL)을 그것으로 설정하고 데몬을 시작하세요 — 다시 알리는 것은 없고 대기 중이던 "
        "알림을 전송합니다",
        "store migrate: copied {source} into {target} ({copied}); set store_url to it (or "
        "TICKET_ALARM_STORE_URL) and start the daemon — it re-alerts nothing and delivers what was pending",
    ),
    # --- argparse help (cli.py build_parser) --------------------------------------------------
    "help.description": (
        "한국 티켓 예매 사이트의 티켓 오픈 공지를 지켜보고 공지마다 한 번씩 Discord에 올립니다.",
        "Watch Korean ticketing sites for ticket-open notices and post each one to Discord once.",
    ),
    "help.config": (
        "설정 파일 (기본값 ./config.json 또는 ${env})",
        "config file (default ./config.json or ${env})",
    ),
    "help.config_short": ("설정 파일", "config file"),
    "help.json": ("JSON 문서 하나를 표준 출력에 씁니다", "print one JSON document on stdout"),
    "help.json_short": ("JSON 문서 하나", "one JSON document"),
    "help.run": ("SIGTERM/SIGINT까지 데몬을 실행합니다", "run the daemon until SIGTERM/SIGINT"),
    "help.once": (
        "사용 중인 사이트를 한 번씩 크롤링한 뒤 대기열(outbox)을 전송합니다",
        "crawl every enabled site once, then deliver the outbox",
    ),
    "help.once.wait": (
        "전송이 요청 한도와 재시도 대기를 기다려 줄 시간 (기본값 {default:g})",
        "how long delivery may wait out rate limits and backoff (default {default:g})",
    ),
    "help.test_crawlers": (
        "사이트마다 가져와서 파싱합니다; 아무것도 보내지 않고 기록도 쓰지 않습니다",
        "fetch and parse each site; sends nothing, writes no history",
    ),
    "help.test_crawlers.file": (
        "가져오는 대신 저장한 페이지를 파싱합니다 (SITE 하나)",
        "parse a saved page instead of fetching (one SITE)",
    ),
    "help.check_config": (
        "설정을 검증하고 비밀 값을 가려서 출력합니다",
        "validate the config and print it with secrets masked",
    ),
    "help.check_config.json": (
        "표준 출력: JSON 문서만; 메시지: 표준 오류",
        "stdout: the JSON document only; messages: stderr",
    ),
    "help.completion": (
        '셸 자동 완성 스크립트를 출력합니다: eval "$(ticket-alarm completion bash)"',
        'print a shell completion script: eval "$(ticket-alarm completion bash)"',
    ),
    "help.send_test": (
        "설정된 웹훅마다 테스트 임베드를 하나 올립니다",
        "post one test embed to each configured webhook",
    ),
    "help.send_test.sample": (
        "SITE의 가장 최근 저장된 공지를 그 알림 모양으로, 테스트 표시를 달아 올립니다",
        "post the newest stored notice of SITE as its alert, marked as a test",
    ),
    "help.explain": (
        "저장된 공지와 그 다이제스트 기록, 경로 판정, 전송 내역을 보여 줍니다",
        "show a stored notice, its digest history, route decisions and deliveries",
    ),
    "help.health": (
        "상태 점검, 데몬과 따로 실행 (Nagios 종료 코드: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)",
        "companion health check (Nagios exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)",
    ),
    "help.health.notify": (
        "상태가 바뀌면 health.ops_webhook_url에 올립니다",
        "post state changes to health.ops_webhook_url",
    ),
    "help.health.no_probe": (
        "웹훅에 GET을 보내지 않습니다 (오프라인 점검)",
        "do not GET the webhooks (offline check)",
    ),
    "help.upcoming": (
        "기록에서 다가오는 티켓 오픈을 표나 JSON으로 보여 줍니다",
        "upcoming ticket opens from the history, as a table or JSON",
    ),
    "help.upcoming.days": (
        "N일 안의 오픈만 (기본값: 앞으로 전부)",
        "only opens within N days (default: all ahead)",
    ),
    "help.only_site": ("이 사이트만", "only this site"),
    "help.upcoming.route": (
        "이 경로가 받는 것만 (그 사이트, 키워드, 장르)",
        "only what this route takes (its sites, keywords, genres)",
    ),
    "help.backup": (
        "저장소(+ 설정)의 일관된 사본을 data_YYYYMMDD_HHMMSS.tar.gz로 만듭니다",
        "consistent copy of the store (+ config) as data_YYYYMMDD_HHMMSS.tar.gz",
    ),
    "help.backup.dest": (
        "백업 파일을 둘 폴더 (기본값: data_dir 옆의 backups)",
        "folder for the archives (default: backups beside data_dir)",
    ),
    "help.backup.keep": (
        "그런 다음 최신 N개만 남기고 백업 파일과 설정 사본을 지웁니다",
        "then delete all but the newest N archives and config copies",
    ),
    "help.restore": (
        "백업 파일을 검증하고 그 저장소를 제자리에 놓습니다 (데몬을 멈춰야 함)",
        "verify a backup archive and put its store in place (the daemon must be stopped)",
    ),
    "help.history": (
        "알림 기록: stats, search TEXT, import FILE (예전 notification_history.json)",
        "alert history: stats, search TEXT, import FILE (the old notification_history.json)",
    ),
    "help.history.stats": (
        "사이트별 행 수, 처음/마지막 발견, 상태별 대기열",
        "rows per site, first/last seen, outbox by status",
    ),
    "help.history.search": ("제목에 TEXT가 들어간 공지", "notices whose title contains TEXT"),
    "help.history.import": (
        "예전 notification_history.json을 가져옵니다",
        "import the old notification_history.json",
    ),
    "help.outbox": (
        "대기열(outbox)을 살펴보고(list) 실패(dead)한 알림을 다시 보냅니다(retry-dead)",
        "inspect the outbox (list) and resend dead letters (retry-dead)",
    ),
    "help.outbox.list": ("대기열 행, 오래된 것부터", "outbox rows, oldest first"),
    "help.outbox.status": ("이 상태의 행만", "only rows with this status"),
    "help.only_route": ("이 경로만", "only this route"),
    "help.outbox.since": (
        "이때 이후 생성: ISO 날짜/시각(KST) 또는 30m / 6h / 2d 전",
        "created since: ISO date/time (KST) or 30m / 6h / 2d back",
    ),
    "help.outbox.retry_dead": (
        "실패(dead)한 알림을 다시 대기열에 넣습니다 (원인을 고친 뒤)",
        "queue dead letters again (after fixing why)",
    ),
    "help.outbox.retry_since": (
        "이때 이후 생성된 실패 알림: ISO 날짜/시각(KST) 또는 30m / 6h / 2d 전",
        "dead letters created since: ISO date/time (KST) or 30m / 6h / 2d back",
    ),
    "help.store": (
        "저장소 관리: migrate --to postgresql://… (SQLite 저장소 복사)",
        "store maintenance: migrate --to postgresql://… (copy the SQLite store)",
    ),
    "help.store.migrate": (
        "SQLite 저장소를 빈 PostgreSQL 데이터베이스로 복사합니다",
        "copy the SQLite store into an empty PostgreSQL database",
    ),
    "help.store.to": (
        "PostgreSQL 주소: postgresql://user:password@host:port/db",
        "postgresql://user:password@host:port/db",
    ),
    # --- backup / restore on PostgreSQL (store/postgres/dump.py) ------------------------------
    "dump.no_file": (
        "{dump}: 그런 백업 파일이 없습니다 (PostgreSQL에서 `backup`이 쓴 .dump 파일).",
        "{dump}: no such backup file (a .dump written by `backup` on PostgreSQL).",
    ),
    "dump.replicas_running": (
        "{location}: 복제본 {count}개가 아직 실행 중입니다 ({names}); 모든 복제본을 먼저 멈춘 뒤"
        "(supervisorctl stop ticket-alarm:) 복원하세요.",
        "{location}: {count} replica(s) still running ({names}); stop every replica first "
        "(supervisorctl stop ticket-alarm:), then restore.",
    ),
    "dump.written": (
        "backup: pg_dump로 {target}을(를) {seconds:.1f}초 만에 씀{config}{removed}",
        "backup: {target} written with pg_dump in {seconds:.1f}s{config}{removed}",
    ),
    "dump.restored": (
        "restore: pg_restore로 {archive} 복원함; 복제본들을 시작하세요",
        "restore: {archive} restored with pg_restore; start the replicas",
    ),
    # --- history import: what is wrong with an entry (history.py) ------------------------------
    "import.not_a_time": (
        "{where}: 타임스탬프 {value!r}는 시각이 아닙니다",
        "{where}: timestamp {value!r} is not a time",
    ),
    "import.out_of_range": (
        "{where}: 타임스탬프 {value!r}가 범위를 벗어났습니다",
        "{where}: timestamp {value!r} is out of range",
    ),
    "import.not_iso": (
        "{where}: {value!r}는 ISO 날짜/시각도 epoch 숫자도 아닙니다",
        "{where}: {value!r} is not an ISO date/time or epoch number",
    ),
    "import.time_type": (
        "{where}: {kind} 형식의 타임스탬프는 시각이 아닙니다",
        "{where}: timestamp of type {kind} is not a time",
    ),
    "import.key_type": (
        "{where}: 키는 문자열이어야 합니다 ({kind}가 아님)",
        "{where}: a key must be a string, not {kind}",
    ),
    "import.not_hash": (
        "{where}: {text!r}는 해시가 아닙니다 (비었거나, 공백이 있거나, 너무 김)",
        "{where}: {text!r} is not a hash (empty, spaced or too long)",
    ),
    "import.site_id_type": (
        "{where}: site는 문자열, id는 문자열이나 숫자여야 합니다",
        "{where}: site must be a string and id a string or number",
    ),
    "import.no_key": (
        "{where}: 이 기록에는 site + id ({site}, {ids})도 해시({hashes})도 없습니다",
        "{where}: the record has neither site + id ({site}, {ids}) nor a hash ({hashes})",
    ),
    "import.entry_index": ("{source}: 항목 [{index}]", "{source}: entry [{index}]"),
    "import.entry_key": ("{source}: 항목 {key!r}", "{source}: entry {key!r}"),
    "import.list_value": (
        "{where}: 목록은 기록도 타임스탬프도 아닙니다",
        "{where}: a list is neither a record nor a timestamp",
    ),
    "import.top_level": (
        "{source}: JSON 목록(해시나 기록의)이나 객체(해시 → 기록 또는 시각)여야 합니다 ({kind}가 아님)",
        "{source}: expected a JSON list (of hashes or records) or an object (hash → record or time), "
        "not {kind}",
    ),
    # --- fetch errors (ticket_alarm/fetch/http.py); the English words the runbook's table names stay in ( ) --
    "http.timeout": (
        "시간 초과 (timeout after {seconds:g}s, {kind}{whole}): {url} 요청",
        "timeout after {seconds:g}s ({kind}{whole}) requesting {url}",
    ),
    "http.timeout.whole": (": 요청 전체가 더 오래 걸림", ": the whole request took longer"),
    "http.invalid_url": (
        "{url}(으)로 가는 길에 잘못된 URL (리다이렉트가 깨졌나요?): {error}",
        "invalid URL on the way to {url} (a malformed redirect?): {error}",
    ),
    "http.connection": (
        "연결 실패 (connection failed): {kind}, {host}: {error}",
        "connection failed: {kind} to {host}: {error}",
    ),
    "http.status": ("HTTP {status} 응답: {url}", "HTTP {status} from {url}"),
    "http.redirect_malformed": (
        "HTTP {status} 리다이렉트: {url}에서 잘못된 URL로; 따라가지 않음",
        "HTTP {status} redirect from {url} to a malformed URL; not followed",
    ),
    "http.redirect_elsewhere": (
        "HTTP {status} 리다이렉트: {url}에서 다른 호스트({target})로; 따라가지 않음",
        "HTTP {status} redirect from {url} to another host ({target}); not followed",
    ),
    "http.redirect_loop": (
        "리다이렉트 순환 (redirect loop): {url}: {chain}",
        "redirect loop from {url}: {chain}",
    ),
    "http.redirects": (
        "{url}에서 리다이렉트가 {count}번을 넘음",
        "more than {count} redirects from {url}",
    ),
    "http.declared_too_large": (
        "응답 {size:,}바이트가 한도 {limit:,}바이트를 넘습니다",
        "response of {size:,} bytes exceeds the {limit:,}-byte limit",
    ),
    "http.too_large": (
        "응답이 한도 {limit:,}바이트를 넘습니다{decompressed}",
        "response exceeds the {limit:,}-byte limit{decompressed}",
    ),
    "http.decompressed": (" (압축을 푼 뒤)", " once decompressed"),
    "http.truncated_stream": (
        "압축된 스트림이 일찍 끝납니다 (잘림)",
        "the compressed stream ends early (truncated)",
    ),
    "http.corrupt": (
        "{url}의 {encoding} 본문이 깨졌습니다 ({error})",
        "corrupt {encoding} body from {url} ({error})",
    ),
    # i20-net: a 304 that hid a changed page
    "http.stale_304": (
        "{site}: {url}이(가) 304(변경 없음)라고 답했지만 내용은 바뀌었습니다; "
        "이 URL은 이제 조건부 요청 없이 가져옵니다",
        "{site}: {url} answered 304 Not Modified while its content had changed; "
        "this URL is now fetched without conditional headers",
    ),
    # --- Melon's and YES24's own page checks (crawlers/melon.py, crawlers/yes24.py) -------------
    "melon.the_list": ("Melon 목록", "the Melon list"),
    "melon.no_list": (
        "{where}의 응답에 ul.list_ticket_cont가 없습니다",
        "no ul.list_ticket_cont in the response from {where}",
    ),
    "melon.cut_short": (
        "{where}의 목록이 중간에 끊겼습니다 (닫는 </ul> 없음): 잘린 응답",
        "the list from {where} is cut short (no closing </ul>): a truncated response",
    ),
    "melon.no_rows": (
        "{where}의 행 {count}개 중 ticket_state, 날짜, 제목 링크가 있는 행이 없습니다",
        "none of the {count} rows of {where} has a ticket_state, date or title link",
    ),
    "melon.no_schedule": (
        "공지 페이지에 dl.schedule_info가 없습니다: {url}",
        "no dl.schedule_info on the notice page {url}",
    ),
    "melon.unparseable": (
        "{where}의 HTML을 읽을 수 없습니다: {error}",
        "unparseable HTML from {where}: {error}",
    ),
    "melon.challenge": ("{reason}: 봇 확인(챌린지) 페이지 ({title})", "{reason}: a challenge page ({title})"),
    "melon.no_title": ("제목 없음", "no title"),
    "melon.empty_body": ("{reason}: 본문이 비어 있습니다", "{reason}: the body is empty"),
    "melon.page_title": (" (페이지 제목 {title!r})", " (page title {title!r})"),
    "melon.locked": (
        "{url}에서 HTTP 423 Locked: Melon이 이 클라이언트를 제한하고 있습니다",
        "HTTP 423 Locked from {url}: Melon is throttling this client",
    ),
    "yes24.the_list": ("공지 목록", "the notice list"),
    "yes24.the_table": ("공지 표 (div.noti-tbl 조각)", "the notice table (div.noti-tbl fragment)"),
    "yes24.no_table": (
        "{where}의 응답에 div.noti-tbl 표가 없습니다",
        "no div.noti-tbl table in the response from {where}",
    ),
    "yes24.cut_short": (
        "{where}의 공지 표가 중간에 끊겼습니다 (닫는 </table> 없음): 잘린 응답",
        "the notice table from {where} is cut short (no closing </table>): a truncated response",
    ),
    "yes24.no_rows": (
        "{where}의 행 {count}개 중 공지로 읽히는 행이 없습니다 (분류: {categories})",
        "none of the {count} rows from {where} reads as a notice (categories: {categories})",
    ),
    # --- Interpark's, NOL's and Ticketlink's own checks (crawlers/interpark*.py, nol.py, ticketlink.py) --
    "interpark.the_site": ("사이트", "the site"),
    "interpark.the_list": ("JSON 공지 목록", "the JSON notice list"),
    "interpark.refused": (
        "{where}에서 공지 배열 대신 JSON 객체가 왔습니다: {detail}",
        "a JSON object where the notice array was expected from {where}: {detail}",
    ),
    "interpark.object": (
        "{where}에서 공지 배열 대신 JSON 객체가 왔습니다 ({detail}): API가 바뀌었습니다",
        "a JSON object where the notice array was expected from {where} ({detail}): the API changed",
    ),
    "interpark.not_array": (
        "{where}에서 공지 배열 대신 JSON {kind}이(가) 왔습니다",
        "JSON {kind} where the notice array was expected from {where}",
    ),
    "interpark.item": (
        "{where}의 목록 항목 {index}이(가) 객체가 아니라 JSON {kind}입니다: API가 바뀌었습니다",
        "list item {index} from {where} is a JSON {kind}, not an object: the API changed",
    ),
    "interpark.next_data": ("공지 페이지의 __NEXT_DATA__", "the notice page's __NEXT_DATA__"),
    "interpark.no_dates": (
        "공지 페이지 {where}에 ticketDates 배열이 없습니다",
        "no ticketDates array on the notice page {where}",
    ),
    "nol.no_notices": (
        'NOL 응답({where})에 "notices" 배열이 없습니다 ({shown}): API가 바뀌었습니다',
        'no "notices" array in the NOL response from {where} ({shown}): the API changed',
    ),
    "nol.item": (
        "{where}의 NOL 공지 #{number}이(가) 객체가 아니라 JSON {kind}입니다",
        "NOL notice #{number} from {where} is a JSON {kind}, not an object",
    ),
    "nol.cursor": ("{where}의 next_cursor가 {kind}입니다", "next_cursor from {where} is a {kind}"),
    "ticketlink.the_list": ("공지 목록", "the notice list"),
    "ticketlink.unexpected": (
        "{where}에서 예상과 다른 JSON: {shown}; "
        '{{"result": {{"result": [...], "paging": {{...}}}}}} 형태여야 합니다',
        "unexpected JSON from {where}: {shown}; "
        'expected {{"result": {{"result": [...], "paging": {{...}}}}}}',
    ),
    "ticketlink.item": (
        "{where}의 공지 #{number}이(가) 객체가 아니라 {kind}입니다",
        "notice #{number} from {where} is a {kind}, not an object",
    ),
    # --- custom sites (crawlers/custom/crawler.py): what does not match the definition ------------
    "custom.invalid": ("정의가 잘못됐습니다: {error}", "the definition is invalid: {error}"),
    "custom.items_missing": (
        "{where}의 JSON에 items 경로 {path!r}가 없습니다: {error}",
        "items path {path!r} not in the JSON from {where}: {error}",
    ),
    "custom.too_deep": (
        "{where}의 JSON이 너무 깊게 중첩돼 있습니다",
        "the JSON from {where} is nested too deeply",
    ),
    "custom.items_not_list": (
        "{where}의 JSON에서 items 경로 {path!r}가 목록이 아니라 {kind}을(를) 가리킵니다",
        "items path {path!r} leads to {kind}, not a list, in the JSON from {where}",
    ),
    "custom.field_not_scalar": (
        "{where}의 JSON 항목 {n}에서 fields.{name} ({path!r})이(가) {kind}입니다; 경로가 그 안의 글자나 "
        "숫자를 가리키게 하세요",
        "fields.{name} ({path!r}) is {kind} in item {n} of the JSON from {where}; "
        "point the path at a text or number inside it",
    ),
    "custom.the_items": ("items {selector!r}의 요소", "the items {selector!r}"),
    "custom.no_items": (
        "{where}의 페이지에서 items {selector!r}에 맞는 요소가 없습니다 (구조가 바뀌었거나 봇 확인 "
        "페이지?); 게시판이 그냥 비어 있는 것이라면 그 문구를 empty_text에 넣으세요",
        "no element matches items {selector!r} in the page from {where} (a changed layout or a "
        "challenge page?); if the board is just empty, add its wording to empty_text",
    ),
    "custom.no_id_title": (
        "{where}의 항목 {count}개 중 id나 제목이 있는 것이 없습니다 (fields.id {id_path!r}, "
        "fields.title {title_path!r})",
        "none of the {count} items from {where} has an id or a title "
        "(fields.id {id_path!r}, fields.title {title_path!r})",
    ),
    # --- history tables (history.py), | between columns ----------------------------------------
    "history.columns.stats": (
        "사이트|행|처음 발견|최신|마지막 발견",
        "SITE|ROWS|FIRST SEEN|NEWEST|LAST SEEN",
    ),
    "history.columns.search": ("사이트|ID|처음 발견|오픈|제목", "SITE|ID|FIRST SEEN|OPENS|TITLE"),
    "history.total": ("합계", "total"),
    "history.imported_mark": (" (가져옴)", " (imported)"),
    # --- the daemon's log (daemon.py, delivery.py, pipeline.py, web.py, logs.py) — i21-ko ------------
    # one wording per event, Korean by default; the runbook's grep phrases open the lines they name
    "log.started": (
        "ticket-alarm 시작: 사이트 {sites} | {delivery} | 대기 알림 {pending}건 | 데이터 {data} | 저장소 "
        "{store}",
        "ticket-alarm started: sites {sites} | {delivery} | {pending} alert(s) waiting | data {data} | "
        "store {store}",
    ),
    "log.no_sites": ("(없음)", "(none)"),
    "log.dry_run": (
        "시험 실행 (웹훅 없음: 알림은 표준 출력에 찍힘)",
        "dry run (no webhook: alerts printed to stdout)",
    ),
    "log.stopped": (
        "종료: 대기열(outbox)에 알림 {pending}건 남음 (다음 시작 때 전송)",
        "stopped: {pending} alerts still pending in the outbox (delivered on the next start)",
    ),
    "log.signal": (
        "{signal} 받음: 종료합니다 (진행 중인 요청은 마칩니다){sighup}",
        "{signal} received: shutting down (finishing requests in flight){sighup}",
    ),
    "log.signal.sighup": (
        "; SIGHUP은 깨끗한 종료이며, supervisor가 설정을 다시 읽어 데몬을 다시 시작합니다",
        "; SIGHUP is a clean stop, supervisor starts the daemon again with the config re-read",
    ),
    "log.second_signal": ("두 번째 신호: 지금 바로 종료합니다", "second signal: exiting now"),
    "log.store_error": (
        "{where} 저장소 오류: {error}; 데몬을 멈춥니다 (종료 코드 {code})",
        "{where} store error: {error}; stopping the daemon (exit {code})",
    ),
    "log.where.head": ("빠른 확인", "head poll"),
    "log.where.heartbeat": ("하트비트를 쓰지 못함:", "heartbeat not written:"),
    "log.where.leases": (
        "복제본 {replica}: 사이트 임대를 갱신하지 못함:",
        "replica {replica}: site leases not renewed:",
    ),
    "log.where.lane": ("알림 전송 실패: 경로 {route}", "알림 전송 실패: lane {route}"),
    "log.crawl_bug": (
        "크롤링 실패: {site} 예기치 않은 오류 {kind}: {error}",
        "크롤링 실패: {site} unexpected {kind}: {error}",
    ),
    "log.head_bug": (
        "크롤링 실패: {site} 빠른 확인 중 예기치 않은 오류 {kind}: {error}",
        "크롤링 실패: {site} head poll unexpected {kind}: {error}",
    ),
    "log.crawl_cancelled": (
        "{site}: 종료하느라 크롤링을 멈췄습니다 ({grace:.0f}초 기다린 뒤); 저장된 것은 그대로이고 다음 "
        "시작 때 "
        "다시 크롤링합니다",
        "{site}: crawl cancelled at shutdown after {grace:.0f}s of grace; nothing half-written, the next "
        "start crawls again",
    ),
    "log.head_cancelled": (
        "{site}: 종료하느라 빠른 확인을 멈췄습니다",
        "{site}: head poll cancelled at shutdown",
    ),
    "log.head_paced": (
        "{site}: 빠른 확인을 {gap:.0f}초마다 합니다 ({configured:g}초 대신): 전체 확인 한 번이 요청 "
        "{requests}개라, 전체 확인과 빠른 확인을 합쳐 {baseline:g}초마다 전체 확인하는 요청의 {factor:g}배 "
        "안으로 맞춥니다",
        "{site}: head polls every {gap:.0f} s, not {configured:g}: a sweep takes {requests} requests, and "
        "sweeps + head polls stay within {factor:g}× the requests of a sweep every {baseline:g} s",
    ),
    "log.head_pace_again": (
        "{site}: 빠른 확인을 다시 {gap:g}초마다 합니다",
        "{site}: head polls every {gap:g} s again",
    ),
    "log.early_sweep": (
        "{site}: 빠른 확인이 page_cap까지 모두 새 공지였습니다; 나머지를 읽으려고 지금 전체 확인합니다",
        "{site}: a head poll stopped at its page cap, every notice new; sweeping now",
    ),
    "log.memory": (
        "메모리 사용량: {rss:.1f} MB (RSS), 사이트 {count}곳 크롤링 뒤",
        "메모리 사용량: {rss:.1f} MB (RSS) after {count} site crawl(s)",
    ),
    "log.memory_exceeded": (
        "메모리 사용량 {rss:.1f} MB가 max_rss_mb {ceiling:g} MB를 넘었습니다: 이번 주기는 끝내고 "
        "저장했습니다; "
        "supervisor가 새 메모리로 다시 시작하도록 종료 코드 {code}로 끝냅니다",
        "메모리 사용량 {rss:.1f} MB exceeds max_rss_mb {ceiling:g} MB: this cycle is finished and saved; "
        "exiting with code {code} so supervisor restarts the daemon with fresh memory",
    ),
    "log.pruned": (
        "저장소 정리: {days:g}일보다 오래된 보낸 알림 {sent}건, 변경 기록 {digests}줄, 캐시된 응답 "
        "{cached}개, 끝난 리마인더 {reminders}건, 공지 페이지 기록 {pages}건을 지웠습니다 (retention_days)",
        "저장소 정리: {sent} sent alerts, {digests} digest-log lines, {cached} cached responses, "
        "{reminders} settled reminders, {pages} notice-page reads older than {days:g} days removed "
        "(retention_days)",
    ),
    "log.prune_failed": ("저장소 정리 실패:", "저장소 정리 실패:"),
    "log.replica_sites": (
        "복제본 {replica}: {sites} 크롤링{gained}{lost}",
        "replica {replica}: crawling {sites}{gained}{lost}",
    ),
    "log.replica_none": ("사이트 없음 (다른 복제본이 맡음)", "no site (other replicas own them)"),
    "log.replica_gained": (" ({sites} 넘겨받음)", " (took over {sites})"),
    "log.replica_lost": (" ({sites} 넘겨줌)", " (lost {sites})"),
    "log.scheduler_busy": (
        "{site}: 앞선 {what}이 아직 끝나지 않아 이번 차례는 건너뜁니다 (사이트가 느리게 답하는 중)",
        "{site}: the previous {what} is still running, this turn is skipped (the site answers slowly)",
    ),
    "log.what.sweep": ("전체 확인", "sweep"),
    "log.what.head": ("빠른 확인", "head poll"),
    # delivery
    "log.sent": (
        "알림 전송: {count}건 (경로 {route}, 메시지 {message}) — {summary}",
        "알림 전송: {count}건 (route {route}, message {message}) — {summary}",
    ),
    "log.printed": (
        "알림 전송: {count}건 출력 (시험 실행: 웹훅이 없어 Discord에는 아무것도 보내지 않음) — {summary}",
        "알림 전송: {count}건 printed (dry run: no webhook configured, nothing sent to Discord) — {summary}",
    ),
    "log.retry": (
        "알림 전송 실패: 경로 {route} {error} — {count}건, {delay:.0f}초 뒤 다시 보냅니다 ({attempt}번째 "
        "시도)",
        "알림 전송 실패: route {route} {error} — {count}건 retried in {delay:.0f}s (attempt {attempt})",
    ),
    "log.dead": (
        "알림 전송 실패: 경로 {route}에서 {count}건이 영구히 거절됐습니다 ({error}); 보내지 못한 알림으로 "
        "보관합니다 (원인을 고친 뒤 `ticket-alarm outbox retry-dead --route {route}`로 다시 보내세요)",
        "알림 전송 실패: route {route} refused {count}건 permanently ({error}); kept as dead letters "
        "(resend them with `ticket-alarm outbox retry-dead --route {route}` once the cause is fixed)",
    ),
    "log.broken": (
        "알림 전송 실패: {text} 이 경로로는 보내지 않습니다; 대기 중인 알림은 보관합니다.",
        "알림 전송 실패: {text} Sending on this route is stopped; its pending alerts are kept.",
    ),
    "log.rate_limited": (
        "경로 {route}: Discord 요청 한도, {wait:.1f}초 기다립니다 (실패로 세지 않음)",
        "Discord rate limit on route {route}: waiting {wait:.1f}s (not counted as a failure)",
    ),
    "log.unreadable_row": (
        "알림 전송 실패: 경로 {route} 대기열 행 #{row}은 알림이 아닙니다 ({error}); 보내지 못한 알림으로 "
        "보관합니다",
        "알림 전송 실패: route {route} outbox row #{row} is not an alert ({error}); kept as a dead letter",
    ),
    "log.lane_bug": (
        "알림 전송 실패: 경로 {route}이 {kind} 때문에 멈췄습니다: {error}; {wait}초 뒤 다시 시도합니다",
        "알림 전송 실패: lane {route} stopped by {kind}: {error}; retrying in {wait}s",
    ),
    "log.unrouted": (
        "알림 전송 실패: 설정에 더 이상 없는 경로 {route!r}에 알림 {count}건이 기다립니다; 대기열에 "
        "보관합니다 "
        "— 같은 이름으로 경로를 다시 넣으면 전송됩니다",
        "알림 전송 실패: {count} alerts wait on route {route!r}, which is not in the config any more; they "
        "are kept in the outbox — add the route back (same name) to deliver them",
    ),
    "log.lease_bug": (
        "경로 {route}: 임대 갱신이 {error}로 멈췄습니다",
        "route {route}: lease renewal stopped by {error}",
    ),
    "log.claim_not_renewed": (
        "경로 {route}: 보내는 중인 대기열 행 {count}개의 점유를 갱신하지 못했습니다: {error}",
        "route {route}: the claim on {count} outbox row(s) being sent was not renewed: {error}",
    ),
    "log.claim_lost": (
        "경로 {route}: 보내는 중인 대기열 행 {total}개 중 {lost}개를 다른 프로세스가 가져갔습니다 (이 "
        "프로세스의 "
        "점유가 {lease:.0f}초 넘게 멈춰 끝났나요?); 두 번 올라갈 수 있습니다",
        "route {route}: {lost} of the {total} outbox row(s) being sent were claimed by another process (this "
        "one's claim lapsed: stalled for over {lease:.0f}s?); they may be posted twice",
    ),
    "log.store_back": (
        "경로 {route}: 저장소가 다시 써집니다; 전송을 이어 갑니다",
        "route {route}: the store writes again; delivery resumes",
    ),
    "log.mark_cleared": (
        "경로 {route}: 고장 표시 뒤 웹훅 URL이 바뀌어 표시를 지웠습니다",
        "route {route}: the webhook URL changed since it was marked broken; cleared",
    ),
    "log.marks_unchecked": (
        "경로들의 웹훅 고장 표시를 확인하지 못했습니다: {error}",
        "route webhook marks not checked: {error}",
    ),
    "log.webhook_back": (
        "경로 {route}: 웹훅이 다시 답합니다; 전송을 이어 갑니다",
        "route {route}: webhook answers again; resuming delivery",
    ),
    # the web page
    "log.web": ("상태 페이지: http://{host}:{port}/{token}", "status page: http://{host}:{port}/{token}"),
    "log.web.token": (" (web.token 필요)", " (web.token required)"),
    "log.web.bind_failed": (
        "상태 페이지를 {host}:{port}에서 열지 못했습니다: {error}; 다른 web.port를 고르세요 (데몬은 계속 "
        "돕니다)",
        "status page not started on {host}:{port}: {error}; pick another web.port (the daemon runs on)",
    ),
    "log.web.open": (
        "상태 페이지가 web.token 없이 {host}에 열려 있습니다: 이 주소에 닿는 누구나 봅니다; web.token을 "
        "설정하거나 web.host를 127.0.0.1로 두세요",
        "status page on {host} without web.token: anyone who can reach this address sees it; set "
        "web.token or bind web.host to 127.0.0.1",
    ),
    "log.web.failed": ("상태 페이지: {path} 실패: {error}", "web: {path} failed: {error}"),
    # the pipeline
    "log.head_back": (
        "{site}: 빠른 확인이 {count}번 실패한 뒤 다시 됩니다",
        "{site}: head polls work again after {count} failure(s)",
    ),
    "log.head_new": (
        "새 공지: {site} {count}건 (빠른 확인, {seconds:.1f}초){note}",
        "새 공지: {site} {count}건 (head poll, {seconds:.1f}초){note}",
    ),
    "log.head_incomplete": (
        "{site}: {id}을 일부만 읽었습니다 ({why}); 목록에 나온 대로 알립니다",
        "{site}: {id} read incompletely ({why}); alerted as listed",
    ),
    "log.head_capped": (
        "{site}: 빠른 확인 {pages}쪽의 공지가 쪽 수 한도까지 모두 새 공지였습니다; 다음 전체 확인이 이어 "
        "읽습니다",
        "{site}: every notice on {pages} head page(s) was new, up to the page cap; the next sweep reads on",
    ),
    "log.head_locked": (
        "크롤링 실패: {site} {reason} (빠른 확인) — 사이트가 이 클라이언트를 잠갔습니다",
        "크롤링 실패: {site} {reason} (head poll) — the site locked this client",
    ),
    "log.head_retry_after": (
        "{site}: 빠른 확인에 {reason}와 Retry-After {wait:.0f}초가 왔습니다; 그때까지 빠른 확인을 멈춥니다",
        "{site}: head poll answered {reason} with Retry-After {wait:.0f}s; head polls pause until then",
    ),
    "log.head_failed": ("{site}: 빠른 확인 실패: {reason}{hint}", "{site}: head poll failed: {reason}{hint}"),
    "log.head_failed_again": (
        "{site}: 빠른 확인이 또 실패 ({count}번 연속): {reason}",
        "{site}: head poll failed again ({count} in a row): {reason}",
    ),
    "log.head_timed_out": ("빠른 확인 시간 초과", "head poll timed out"),
    "log.crawl_timed_out": ("크롤링 시간 초과", "crawl timed out"),
    "log.crawler_bug": ("크롤러 버그: {kind}: {error}", "crawler bug: {kind}: {error}"),
    "log.hint": (" (도움말: {hint})", " (hint: {hint})"),
    "log.crawl_failed": ("크롤링 실패: {site} {reason}{hint}", "크롤링 실패: {site} {reason}{hint}"),
    "log.crawl_locked": (
        "크롤링 실패: {site} {reason} — 사이트가 이 클라이언트를 잠갔습니다; {wait} 동안 건드리지 않습니다",
        "크롤링 실패: {site} {reason} — the site locked this client; leaving it alone for {wait}",
    ),
    "log.minutes": ("{n:.0f}분", "{n:.0f} minutes"),
    "log.seconds": ("{n:.0f}초", "{n:.0f} seconds"),
    "log.invalid_notice": (
        "{site}: 잘못된 공지를 건너뜀 (id {id!r}): {problems}",
        "{site}: invalid notice skipped (id {id!r}): {problems}",
    ),
    "log.page_cap": (
        "{site}: 목록이 끝나기 전에 쪽 수 한도({pages}쪽)에서 멈췄습니다; 사이트가 정말 그만큼 올린다면 "
        "sites.{site}.page_cap을 늘리세요",
        "{site}: stopped at the page cap ({pages} pages) before the list ended; raise sites.{site}.page_cap "
        "if the site really lists that many",
    ),
    "log.changed_back": (
        "{site}: {id}이 확정되기 전에 원래대로 돌아왔습니다; 변경 알림 없음",
        "{site}: {id} changed back before it was confirmed; no change alert",
    ),
    "log.incomplete_kept": (
        "{site}: {id}을 일부만 읽었습니다 ({why}); 기록은 그대로 둡니다",
        "{site}: {id} read incompletely ({why}); history kept",
    ),
    "log.empty_streak": (
        "{site}: {count}번 연속 공지가 0건입니다 (평소 {usual}건 이상); 페이지 모양이 바뀌었을 수 있습니다 — "
        "`python -m ticket_alarm test-crawlers {site}`를 실행하세요",
        "{site}: {count} cycles in a row with zero notices, although the site usually lists {usual} or "
        "more; the page layout may have changed — run `python -m ticket_alarm test-crawlers {site}`",
    ),
    "log.storm": (
        "{site}: 한 번에 새 공지 {new}건 중 {matched}건이 제목과 오픈 시각으로 아는 공지와 같습니다 "
        "(사이트가 "
        "번호를 바꿨나요?): 알리지 않고 기록만 합니다; 맞는 공지가 없는 {rest}건은 새 공지로 알립니다",
        "{site}: {matched} of {new} new notices in one crawl match known notices by title and open time "
        "(a renumbering or migration of the site's ids?): recorded silently, not announced; {rest} without "
        "a match are alerted as new",
    ),
}


def language() -> str:
    """``en`` when TICKET_ALARM_LANG says English, else ``ko`` (the operators' language)."""
    if _forced is not None:
        return _forced
    return "en" if os.environ.get(LANG_ENV, "").strip().lower().startswith("en") else "ko"


def language_problem() -> str | None:
    """The one warning a TICKET_ALARM_LANG that names neither language deserves (it falls back to
    Korean), or None: unset, ``ko``/``en`` and locale forms such as ``en_US.UTF-8`` are fine."""
    value = os.environ.get(LANG_ENV, "")
    if not value.strip() or value.strip().lower().startswith(LANGUAGES):
        return None
    return t("cli.lang_unknown", env=LANG_ENV, value=value, allowed=", ".join(LANGUAGES))


def set_language(lang: str | None) -> None:
    """Force a language for this process (None: follow TICKET_ALARM_LANG again)."""
    global _forced
    if lang is not None and lang not in LANGUAGES:
        raise ValueError(f"language {lang!r}: expected one of {', '.join(LANGUAGES)}")
    _forced = lang


def t(key: str, /, **fields: object) -> str:
    """The message ``key`` in the current language, with ``fields`` filled in. In Korean, a particle
    written right after a field (``{route}가``, ``{name!r}를``) is fitted to the value (``josa``)."""
    korean, english = MESSAGES[key]
    if language() == "en":
        return english.format(**fields)
    return _fit_particles(korean, fields)


# --- Korean particles (i21-ko) ----------------------------------------------------------------------
# A particle's form depends on whether the word before it ends in a consonant (받침): 경로 멜론이,
# 경로 default가. The final sound of what is shown is read so:
#   - a Hangul syllable: its own final consonant (ㄹ matters for 으로/로);
#   - a digit, read the Sino-Korean way: 0 영, 1 일, 3 삼, 6 육, 7 칠, 8 팔 end in a consonant (1, 7, 8
#     in ㄹ); 2 이, 4 사, 5 오, 9 구 do not;
#   - Latin letters: a word of one to three capitals is spelled out (BTS 비티에스, IU 아이유): it ends
#     in a consonant when its last letter is L, M, N (엘 엠 엔) or R (알; ㄹ); any other word is read as a
#     loanword, which ends in a consonant only after -ng (ㅇ), -m (ㅁ), -n (ㄴ) or -l (ㄹ): seventeen
#     세븐틴이, default 디폴트가, melon 멜론이, ticketlink 티켓링크가;
#   - quotes, brackets and other marks at the end are skipped; a value ending in anything else (or
#     empty) keeps the paired form, 이(가).
PARTICLES: dict[str, tuple[str, str]] = {
    # either form (or the paired one) → (after a consonant, after a vowel)
    "이": ("이", "가"),
    "가": ("이", "가"),
    "이(가)": ("이", "가"),
    "을": ("을", "를"),
    "를": ("을", "를"),
    "을(를)": ("을", "를"),
    "은": ("은", "는"),
    "는": ("은", "는"),
    "은(는)": ("은", "는"),
    "과": ("과", "와"),
    "와": ("과", "와"),
    "과(와)": ("과", "와"),
    "으로": ("으로", "로"),
    "로": ("으로", "로"),
    "(으)로": ("으로", "로"),
}
_PAIRED = {"이": "이(가)", "을": "을(를)", "은": "은(는)", "과": "과(와)", "으로": "(으)로"}
_TRAILING_MARKS = "'\"`)]}>」』〉》.,!?…*"
_CONSONANT_DIGITS = {"0": "ㅇ", "1": "ㄹ", "3": "ㅁ", "6": "ㄱ", "7": "ㄹ", "8": "ㄹ"}
_CONSONANT_LETTERS = {"l": "ㄹ", "m": "ㅁ", "n": "ㄴ", "r": "ㄹ"}  # spelled-out capitals
_HANGUL_FINALS = " ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ"


def final_sound(word: str) -> str | None:
    """The final consonant of ``word`` as read aloud in Korean (``""``: ends in a vowel; None: unknown)."""
    text = word.rstrip().rstrip(_TRAILING_MARKS).rstrip()
    if not text:
        return None
    last = text[-1]
    if "가" <= last <= "힣":
        return _HANGUL_FINALS[(ord(last) - 0xAC00) % 28].strip()
    if last.isascii() and last.isdigit():
        return _CONSONANT_DIGITS.get(last, "")
    if not (last.isascii() and last.isalpha()):
        return None
    start = len(text)
    while start > 0 and text[start - 1].isascii() and text[start - 1].isalpha():
        start -= 1
    latin = text[start:]
    if latin.isupper() and len(latin) <= 3:
        return _CONSONANT_LETTERS.get(last.lower(), "")
    lower = latin.lower()
    if lower.endswith("ng"):
        return "ㅇ"
    return {"m": "ㅁ", "n": "ㄴ", "l": "ㄹ"}.get(lower[-1], "")


def josa(word: str, particle: str) -> str:
    """``word`` with ``particle`` (either form: 이/가, 을/를, 은/는, 과/와, 으로/로) fitted to it."""
    return word + particle_for(word, particle)


def particle_for(word: str, particle: str) -> str:
    after_consonant, after_vowel = PARTICLES[particle]
    final = final_sound(word)
    if final is None:
        return _PAIRED[after_consonant]
    if after_consonant == "으로":
        return "으로" if final and final != "ㄹ" else "로"
    return after_consonant if final else after_vowel


# a particle right after a field, ended by anything but another Hangul syllable (이다, 은행: no particle)
_PARTICLE_AFTER = re.compile(
    r"^(이\(가\)|을\(를\)|은\(는\)|과\(와\)|\(으\)로|으로|이|가|을|를|은|는|과|와|로)(?![가-힣])"
)


def _fit_particles(template: str, fields: dict[str, object]) -> str:
    out: list[str] = []
    formatter = string.Formatter()
    pending_value: str | None = None
    for literal, name, spec, conversion in formatter.parse(template):
        if pending_value is not None:
            match = _PARTICLE_AFTER.match(literal)
            if match and final_sound(pending_value) is not None:
                literal = particle_for(pending_value, match.group(1)) + literal[match.end() :]
        out.append(literal)
        pending_value = None
        if name is None:
            continue
        value, _ = formatter.get_field(name, (), fields)
        value = formatter.convert_field(value, conversion)
        text = formatter.format_field(value, formatter.vformat(spec or "", (), fields))
        out.append(text)
        pending_value = text
    return "".join(out)


# --- pydantic's checks of a config value (English: pydantic's own words, unchanged) ------------------
# keyed by pydantic's error type; the fields are the error's ``ctx``
MESSAGES.update(
    {
        "pydantic.greater_than_equal": (
            "{ge} 이상이어야 합니다",
            "Input should be greater than or equal to {ge}",
        ),
        "pydantic.greater_than": ("{gt}보다 커야 합니다", "Input should be greater than {gt}"),
        "pydantic.less_than_equal": ("{le} 이하여야 합니다", "Input should be less than or equal to {le}"),
        "pydantic.less_than": ("{lt}보다 작아야 합니다", "Input should be less than {lt}"),
        "pydantic.bool_parsing": ("true 또는 false여야 합니다", "Input should be a valid boolean"),
        "pydantic.bool_type": ("true 또는 false여야 합니다", "Input should be a valid boolean"),
        "pydantic.int_parsing": ("정수여야 합니다", "Input should be a valid integer"),
        "pydantic.int_type": ("정수여야 합니다", "Input should be a valid integer"),
        "pydantic.int_from_float": ("소수점 없는 정수여야 합니다", "Input should be a valid integer"),
        "pydantic.float_parsing": ("숫자여야 합니다", "Input should be a valid number"),
        "pydantic.float_type": ("숫자여야 합니다", "Input should be a valid number"),
        "pydantic.finite_number": (
            "유한한 숫자여야 합니다 (inf, nan 안 됨)",
            "Input should be a finite number",
        ),
        "pydantic.string_type": ("문자열이어야 합니다", "Input should be a valid string"),
        "pydantic.list_type": ("목록(JSON 배열)이어야 합니다", "Input should be a valid list"),
        "pydantic.dict_type": ("JSON 객체여야 합니다", "Input should be a valid dictionary"),
        "pydantic.model_type": ("JSON 객체여야 합니다", "Input should be a valid dictionary"),
        "pydantic.missing": ("꼭 있어야 하는 키입니다", "Field required"),
        "pydantic.literal_error": ("다음 중 하나여야 합니다: {expected}", "Input should be {expected}"),
        "pydantic.enum": ("다음 중 하나여야 합니다: {expected}", "Input should be {expected}"),
        "pydantic.string_too_short": (
            "{min_length}자 이상이어야 합니다",
            "String should have at least {min_length} characters",
        ),
        "pydantic.string_too_long": (
            "{max_length}자 이하여야 합니다",
            "String should have at most {max_length} characters",
        ),
        "pydantic.too_short": (
            "항목이 {min_length}개 이상이어야 합니다",
            "should have at least {min_length} items",
        ),
        "pydantic.too_long": (
            "항목이 {max_length}개 이하여야 합니다",
            "should have at most {max_length} items",
        ),
        "pydantic.string_pattern_mismatch": (
            "형식이 {pattern}에 맞아야 합니다",
            "String should match pattern {pattern}",
        ),
    }
)


# --- the crawler registry (plugins, custom sites, site names on the command line) -------------------
MESSAGES.update(
    {
        "registry.not_a_crawler": (
            "크롤러 플러그인 {origin}: {cls}은(는) crawlers.base.Crawler의 하위 클래스가 아닙니다.",
            "crawler plugin {origin}: {cls} is not a subclass of crawlers.base.Crawler.",
        ),
        "registry.missing_attr": (
            "크롤러 플러그인 {origin}: 클래스 {cls}에 `{attr}`이(가) 없습니다.",
            "crawler plugin {origin}: class {cls} does not set `{attr}`.",
        ),
        "registry.duplicate": (
            "크롤러 두 개의 이름이 같습니다({name}): {first}, {second}; {fix}.",
            "two crawlers are named {name}: {first} and {second}; {fix}.",
        ),
        "registry.duplicate.fix_custom": (
            "사용자 정의 사이트의 이름(custom_sites의 `name`)을 바꾸세요",
            "rename the custom site (its `name` in custom_sites)",
        ),
        "registry.duplicate.fix_plugin": (
            "플러그인 하나를 제거하거나 그 크롤러의 이름을 바꾸세요",
            "uninstall one of the plugins or rename its crawler",
        ),
        "registry.plugin_failed": (
            "크롤러 플러그인 {name} ({value})을(를) 불러오지 못했습니다: {error}. "
            "그 패키지를 고치거나 제거하세요.",
            "crawler plugin {name} ({value}) failed to load: {error}. Fix or uninstall that package.",
        ),
        "registry.unknown_site": (
            "알 수 없는 사이트 {name}; 아는 사이트: {known}.{hint}",
            "unknown site {name}; known sites: {known}.{hint}",
        ),
        "registry.did_you_mean": (" 혹시 `{site}`?", " Did you mean `{site}`?"),
        "registry.none": ("(없음)", "(none)"),
        # --- a webhook Discord will never take an alert on (once, send-test, health) ----------
        "webhook.broken.gone": (
            "경로 {route} 웹훅 {url}: {answer} — 웹훅이 삭제되었거나 토큰이 틀렸습니다. Discord에서 "
            "새 웹훅을 만들고(채널 설정 → 연동 → 웹훅 → 웹훅 URL 복사) 그 URL을 설정에 넣은 뒤 "
            "다시 시작하세요.",
            "route {route} webhook {url} {answer} — the webhook was deleted or its token is wrong. Create "
            "a new webhook in Discord (channel settings → Integrations → Webhooks → Copy Webhook URL), put "
            "its URL in the config and restart.",
        ),
        "webhook.broken.refused": (
            "경로 {route} 웹훅 {url}: {answer} — Discord가 이 웹훅을 거부했습니다. 웹훅 채널의 "
            "권한과 thread_id를 확인한 뒤 다시 시작하세요.",
            "route {route} webhook {url} {answer} — Discord refused this webhook. Check the webhook's "
            "channel permissions and thread_id, then restart.",
        ),
        "webhook.broken.answer": ("{status} 응답", "answered {status}"),
    }
)


# --- the store (store/sqlite/engine.py, store/sqlite/backend.py, store/__init__.py) -------------------
# what operators meet first when something is wrong: the daemon's exit-2 line, health's `store` line
MESSAGES.update(
    {
        "store.data_dir.cannot_create": (
            "data_dir {data_dir}: 폴더를 만들 수 없습니다 ({reason}); 직접 만들거나 data_dir을 다른 곳으로 "
            "지정하세요.",
            "data_dir {data_dir}: cannot create it ({reason}); create it or point data_dir elsewhere.",
        ),
        "store.data_dir.not_writable": (
            "data_dir {data_dir}: 이 사용자가 쓸 수 없습니다 (not writable); 권한을 고치거나(chown/chmod) "
            "data_dir을 다른 곳으로 지정하세요.",
            "data_dir {data_dir}: not writable by this user; fix its permissions (chown/chmod) or point "
            "data_dir elsewhere.",
        ),
        "store.cannot_open": (
            "{path}: 저장소를 열 수 없습니다 ({error}); 경로와 권한을 확인하세요.",
            "{path}: cannot open the store ({error}); check the path and its permissions.",
        ),
        "store.not_ours": (
            "{path}: ticket-alarm이 만든 SQLite 파일이 아닙니다 (스키마 버전 없음); data_dir을 새 폴더로 "
            "지정하세요.",
            "{path}: this SQLite file was not written by ticket-alarm (no schema version); point data_dir "
            "at a fresh directory.",
        ),
        "store.schema_newer": (
            "{path}: 스키마 버전 {version}은(는) 이 프로그램이 아는 버전({known})보다 새롭습니다; "
            "ticket-alarm을 업그레이드하거나 백업을 복원하세요.",
            "{path}: schema version {version} is newer than this program knows ({known}); upgrade "
            "ticket-alarm or restore a backup.",
        ),
        "store.unreadable": (
            "{path}: 저장소를 읽을 수 없습니다 ({error}). 빈 기록으로 시작하면 모든 공지를 다시 알리게 "
            "되므로 새로 만들지 않습니다(NOT recreated): 백업에서 복원하거나(`python -m ticket_alarm restore "
            "ARCHIVE`), 일부러 처음부터 시작하려면 이 파일을 다른 곳으로 옮기세요.",
            "{path}: the store is unreadable ({error}). It is NOT recreated, because an empty history "
            "would re-alert every notice: restore it from a backup (`python -m ticket_alarm restore "
            "ARCHIVE`) or move the file aside to start over on purpose.",
        ),
        "store.write_failed": (
            "{path}: 쓰기에 실패했습니다 ({error}); 디스크 여유 공간과 권한을 확인하세요.",
            "{path}: write failed ({error}); check free disk space and permissions.",
        ),
        "store.read_failed": ("{path}: 읽기에 실패했습니다 ({error}).", "{path}: read failed ({error})."),
        "store.restore_failed": (
            "{path}: {src}에서 복원하지 못했습니다 ({error}).",
            "{path}: restore from {src} failed ({error}).",
        ),
        "store.none_yet": (
            "{path}: 아직 저장소가 없습니다 (데몬이 처음 시작할 때 만듭니다).",
            "{path}: no store there yet (the daemon creates it on its first start).",
        ),
        "store.unreadable_readonly": (
            "{path}: 저장소를 읽을 수 없습니다 ({error}); 백업을 복원하세요 "
            "(`python -m ticket_alarm restore ARCHIVE`).",
            "{path}: the store is unreadable ({error}); restore a backup "
            "(`python -m ticket_alarm restore ARCHIVE`).",
        ),
        "store.schema_unknown": (
            "{path}: 스키마 버전 {version}은(는) 이 프로그램이 아는 버전(1..{known})이 아닙니다; "
            "ticket-alarm 저장소가 아니거나 더 새 버전이 쓴 파일입니다.",
            "{path}: schema version {version} is not one this program knows (1..{known}); it is not a "
            "ticket-alarm store, or a newer version wrote it.",
        ),
        "store.cannot_read": (
            "{path}: 저장소를 읽기용으로 열 수 없습니다 ({error}).",
            "{path}: the store cannot be opened for reading ({error}).",
        ),
        "store.backup_failed": (
            "{path}: {dest}(으)로 백업하지 못했습니다 ({error}).",
            "{path}: backup to {dest} failed ({error}).",
        ),
        "store.payload_not_json": (
            "경로 {route!r}의 outbox 페이로드가 JSON이 아닙니다 ({error}).",
            "outbox payload of route {route!r} is not JSON ({error}).",
        ),
        "store.copy.integrity": (
            "{what}: 데이터베이스가 무결성 검사(integrity check)를 통과하지 못합니다 ({problems}).",
            "{what}: the database fails its integrity check ({problems}).",
        ),
        "store.copy.schema_unknown": (
            "{what}: 스키마 버전 {version}은(는) 이 프로그램이 아는 버전(1..{known})이 아닙니다.",
            "{what}: schema version {version} is not one this program knows (1..{known}).",
        ),
        "store.copy.not_ours": (
            "{what}: ticket-alarm 저장소가 아닙니다 ({tables} 테이블 없음).",
            "{what}: not a ticket-alarm store (no {tables} table).",
        ),
        "store.copy.not_sqlite": (
            "{what}: 읽을 수 있는 SQLite 데이터베이스가 아닙니다 ({error}).",
            "{what}: not a readable SQLite database ({error}).",
        ),
        "store.closed": (
            "{location}: 저장소가 닫혔습니다 (데몬이 멈추는 중); 아무것도 읽거나 쓰지 않았습니다.",
            "{location}: the store is closed (the daemon is stopping); nothing was read or written.",
        ),
        "store.lock.cannot_create": (
            "data_dir {data_dir}: 폴더를 만들거나 잠글 수 없습니다 ({reason}); 쓸 수 있는 폴더로 만들거나"
            "(권한과 마운트를 확인하세요) data_dir을 다른 곳으로 지정하세요.",
            "data_dir {data_dir}: cannot create it or lock it ({reason}); make it a writable directory "
            "(check permissions and mounts) or point data_dir elsewhere.",
        ),
        "store.lock.held": (
            "다른 ticket-alarm 프로세스(pid {pid})가 data_dir {data_dir}을(를) 쓰고 있습니다; 먼저 그 "
            "프로세스를 멈추거나(supervisorctl stop ticket-alarm:monitor) 다른 data_dir을 쓰세요.",
            "another ticket-alarm process (pid {pid}) is using data_dir {data_dir}; stop it first "
            "(supervisorctl stop ticket-alarm:monitor) or use another data_dir.",
        ),
        "store.lock.cannot_write": (
            "data_dir {data_dir}: {name}을(를) 쓸 수 없습니다 ({reason}); 쓸 수 있는 폴더로 만들거나(권한, "
            "마운트, 디스크 여유 공간을 확인하세요) data_dir을 다른 곳으로 지정하세요.",
            "data_dir {data_dir}: cannot write {name} ({reason}); make it a writable directory (check "
            "permissions, mounts and free space) or point data_dir elsewhere.",
        ),
        "store_url.not_installed": (
            "store_url: {scheme} 백엔드가 설치되어 있지 않습니다 ({module}); ticket-alarm을 그 extra와 함께 "
            "설치하거나 data_dir(SQLite)을 쓰세요.",
            "store_url: the {scheme} backend is not installed ({module}); install ticket-alarm with its "
            "extra, or use a data_dir (SQLite).",
        ),
        "store_url.unknown_scheme": (
            "store_url: 알 수 없는 스킴 {scheme!r}; data_dir 경로, sqlite:///DIR, memory: 또는 "
            "postgresql://HOST/DB를 쓰세요.",
            "store_url: unknown scheme {scheme!r}; use a data_dir path, sqlite:///DIR, memory: or "
            "postgresql://HOST/DB.",
        ),
    }
)


# --- the PostgreSQL store (store/postgres/engine.py, replicas.py); {location} is the masked URL -------
MESSAGES.update(
    {
        "pg.not_json": (
            "PostgreSQL 저장소: 저장할 값이 JSON이 아닙니다 ({error}); 아무것도 쓰지 않았습니다.",
            "PostgreSQL store: a value to store is not JSON ({error}); nothing was written.",
        ),
        "pg.cannot_connect": (
            "{location}: PostgreSQL에 연결할 수 없습니다 ({error}); store_url(호스트, 포트, 사용자, "
            "비밀번호, 데이터베이스)과 서버가 이 호스트의 연결을 받는지 확인하세요.",
            "{location}: cannot connect to PostgreSQL ({error}); check store_url (host, port, user, "
            "password, database) and that the server accepts connections from this host.",
        ),
        "pg.schema_unknown": (
            "{location}: 스키마 버전 {version}은(는) 이 프로그램이 아는 버전(1..{known})이 아닙니다; 이 "
            "데이터베이스를 쓴 데몬이 아직 없거나 더 새 버전이 썼습니다.",
            "{location}: schema version {version} is not one this program knows (1..{known}); no daemon "
            "has used this database yet, or a newer version wrote it.",
        ),
        "pg.failed": (
            "{location}: {what}에 실패했습니다 ({error}); PostgreSQL 서버가 켜져 있고 접속할 수 있는지, "
            "디스크 여유 공간이 있는지 확인하세요.",
            "{location}: {what} failed ({error}); check that the PostgreSQL server is up and reachable, "
            "and its free disk space.",
        ),
        "pg.op.read": ("읽기", "read"),
        "pg.op.write": ("쓰기", "write"),
        "pg.op.migrate": ("스키마 마이그레이션", "migrate"),
        "pg.op.prune": ("정리(prune)", "prune"),
        "pg.op.lease_renewal": ("리스 갱신", "lease renewal"),
        "pg.op.replica_heartbeat": ("레플리카 하트비트", "replica heartbeat"),
        "pg.op.replica_release": ("레플리카 해제", "replica release"),
        "pg.op.store_migrate": ("저장소 이전(store migrate)", "store migrate"),
        "pg.no_data_dir": (
            "{location}: 리스에는 레플리카의 data_dir이 필요합니다",
            "{location}: a lease needs the replica's data_dir",
        ),
        "pg.schema_newer": (
            "{location}: 스키마 버전 {version}은(는) 이 프로그램이 아는 버전({known})보다 새롭습니다; 모든 "
            "레플리카의 ticket-alarm을 업그레이드하세요.",
            "{location}: schema version {version} is newer than this program knows ({known}); upgrade "
            "ticket-alarm on every replica.",
        ),
        "pg.backup_to": ("{location}: {dest}(으)로 백업", "{location}: backup to {dest}"),
        "pg.restore_from": ("{location}: {src}에서 복원", "{location}: restore from {src}"),
        "pg.tool_missing": (
            "{location}: `{name}`이(가) 설치되어 있지 않아 여기서는 이 PostgreSQL 저장소를 백업하거나 복원할 "
            "수 없습니다; PostgreSQL 클라이언트 도구를 서버와 같은 메이저 버전이나 더 새 버전으로 설치하세요 "
            "(Debian: `apt-get install postgresql-client`).",
            "{location}: `{name}` is not installed, so this PostgreSQL store cannot be backed up or "
            "restored from here; install the PostgreSQL client tools (Debian: `apt-get install "
            "postgresql-client`), the same major version as the server or newer.",
        ),
        "pg.tool_failed": ("{what}에 실패했습니다 ({error}).", "{what} failed ({error})."),
        # the `replicas` health line
        "replicas.state.alive": ("살아 있음", "alive"),
        "replicas.state.stopped": ("멈춤", "stopped"),
        "replicas.state.gone": ("사라짐", "gone"),
        "replicas.no_site": ("사이트 없음", "no site"),
        "replicas.entry": (
            "{name} (pid {pid}, {state}, 하트비트 {age:.0f}초 전): {owned}",
            "{name} (pid {pid}, {state}, heartbeat {age:.0f}s ago): {owned}",
        ),
        "replicas.none_started": (
            "이 데이터베이스에서 시작한 레플리카가 아직 없습니다",
            "no replica has started on this database yet",
        ),
        "replicas.orphans": (
            "; 지금 어느 레플리카도 크롤링하지 않는 사이트: {sites}",
            "; not crawled by any replica right now: {sites}",
        ),
        "replicas.none_alive": ("살아 있는 레플리카 없음 — {listing}", "no replica alive — {listing}"),
        "replicas.only_one": (
            "레플리카가 {expected}개 중 {alive}개만 남았습니다: 이것마저 멈추면 아무도 이어받지 않습니다 — "
            "{listing}",
            "only {alive} replica left of {expected}: if it stops, nobody takes over — {listing}",
        ),
        "replicas.alive": ("레플리카 {alive}개 살아 있음 — {listing}", "{alive} replicas alive — {listing}"),
    }
)


# --- an outbox payload that is not an Alert (notify.py): a dead letter's last_error in `outbox list` ---
MESSAGES.update(
    {
        "alert.unknown_kind": ("알 수 없는 알림 종류 {kind!r}", "unknown alert kind {kind!r}"),
        "alert.legacy_embed": (
            "legacy 알림에는 embed가 있어야 합니다",
            "a legacy alert carries its embed",
        ),
        "alert.needs_ticket": ("{kind} 알림에는 ticket이 있어야 합니다", "a {kind} alert carries its ticket"),
        "alert.needs_before": (
            "change 알림에는 바뀌기 전의 ticket(before)이 있어야 합니다",
            "a change alert carries the ticket as it was before",
        ),
        "alert.needs_offset": (
            "reminder 알림에는 offset(오픈 몇 분 전인지)이 있어야 합니다",
            "a reminder alert carries its offset (minutes before the open)",
        ),
        "alert.not_object": (
            "outbox 페이로드는 JSON 객체여야 하는데 {kind}입니다",
            "an outbox payload is a JSON object, not {kind}",
        ),
        "alert.no_key": (
            "'alert' 키 없음: Alert가 아닙니다 (저장소 스키마 5단계가 이전 버전이 남긴 Discord embed를 모두 "
            "legacy Alert로 바꿨습니다; 이 페이로드는 그런 embed가 아닙니다)",
            "no 'alert' key: not an Alert (the store's schema step 5 rewrote every Discord embed an "
            "older version left as a legacy Alert; this payload is not such an embed)",
        ),
        "alert.version": (
            "알림 페이로드 버전 {version!r}은(는) {expected}이(가) 아닙니다",
            "alert payload version {version!r} is not {expected}",
        ),
        "alert.unreadable": (
            "알림 페이로드를 읽을 수 없습니다: {error}",
            "alert payload unreadable: {error}",
        ),
        # a custom site's open time that does not parse (crawlers/custom/crawler.py): a crawl warning
        "custom.open_not_date": (
            "공지 {notice!r}: 오픈 시각 {text!r}은(는) {which} 날짜가 아닙니다; 추후 공지로 보냅니다 "
            "(open_at_format이나 fields.open_at 정규식을 설정하세요)",
            "notice {notice!r}: open time {text!r} is not a date {which}; "
            "sent as 추후 공지 (set open_at_format or a fields.open_at regex)",
        ),
        "custom.open_not_date.format": ("open_at_format에 맞는", "matching open_at_format"),
        "custom.open_not_date.auto": ("이 크롤러가 읽을 수 있는", "this crawler can read"),
    }
)

# --- delivery: a store write owed after Discord answered (the log line and health's store_writes) ----
MESSAGES.update(
    {
        "delivery.write_failed": (
            "Discord가 응답한 뒤 저장소 쓰기에 실패했습니다 ({what}): {error}; route {route}은(는) 저장소에 "
            "다시 쓸 수 있을 때까지 아무것도 보내지 않습니다 (그 묶음이 두 번 전송되지는 않습니다)",
            "store write failed after Discord answered ({what}): {error}; route {route} posts nothing "
            "until the store writes again (the batch is not sent twice)",
        ),
        # i20-pg: the fence before each post, a store that cannot be reached, the stop after an owed write
        "delivery.claim_lost": (
            "경로 {route}: 보내는 중인 대기열 행 {count}개 중 {lost}개를 다른 프로세스가 가져갔습니다 (이 "
            "프로세스의 점유가 끝남: 멈춰 있었나요?); 이 프로세스는 그 행을 보내지 않습니다",
            "route {route}: {lost} of the {count} outbox row(s) being sent were claimed by another process "
            "(this one's claim lapsed: was it stalled?); this process does not post them",
        ),
        "delivery.fenced": (
            "route {route}: 보내기 직전 확인에서 {count}개 중 {lost}개가 더 이상 이 프로세스의 것이 아닙니다 "
            "(다른 프로세스가 가져감); 묶음을 보내지 않고 버립니다 — 그 행은 가진 쪽이 보냅니다",
            "route {route}: checked just before the post, {lost} of the {count} row(s) are no longer this "
            "process's (another one took them); the batch is dropped unposted — their holder posts them",
        ),
        "daemon.store_unreachable": (
            "저장소에 연결할 수 없습니다 ({where} {error}); 데몬은 계속 실행되며, 기록할 수 없는 것은 "
            "크롤링하지 않고, 저장소가 돌아올 때까지 간격을 늘려 가며 (최대 30초) 다시 연결합니다",
            "the store cannot be reached ({where} {error}); the daemon keeps running, crawls nothing it "
            "cannot record, and reconnects with back-off (up to 30 s) until the store is back",
        ),
        "daemon.store_unreachable.status": (
            "저장소에 연결할 수 없음: {error}; 데몬이 기다리며 다시 연결합니다",
            "the store cannot be reached: {error}; the daemon waits and reconnects",
        ),
        "daemon.store_back": (
            "저장소에 다시 연결했습니다 ({seconds:.0f}초 만에); 크롤링과 전송을 다시 시작합니다",
            "the store is reachable again (after {seconds:.0f} s); crawling and delivery resume",
        ),
        "daemon.stop_after_owed": (
            "보내는 중이거나 Discord가 받은 묶음의 저장소 쓰기가 아직 남아 있어, 그 쓰기가 성공한 뒤에 "
            "멈춥니다 (그동안 크롤링도 새 전송도 하지 않음): 재시작이 그 묶음을 다시 보내지 않도록",
            "a batch being sent or accepted by Discord still owes its store write: the daemon stops once "
            "that write lands (crawling and claiming nothing meanwhile), so a restart cannot post it again",
        ),
        "health.store.unreachable": (
            "{error} — 실행 중인 데몬은 멈추지 않고 기다리며 다시 연결합니다; PostgreSQL 서버를 확인하세요",
            "{error} — a running daemon does not stop: it waits and reconnects; check the PostgreSQL server",
        ),
    }
)

# --- i20-net: log lines held back by the rate limit (logs.py RepeatLimiter) ---------------------------
MESSAGES.update(
    {
        "logs.held": (
            " (지난 {seconds:.0f}초 동안 같은 줄 {count}개 더, 생략됨)",
            " (+{count} more like this in the last {seconds:.0f} s, held back)",
        ),
        "logs.held_summary": (
            "지난 {seconds:.0f}초 동안 “{sample}” 같은 줄 {count}개가 생략되었습니다 (종류마다 1분에 한 줄)",
            "{count} more like “{sample}” in the last {seconds:.0f} s "
            "(held back: one line per kind per minute)",
        ),
    }
)


# --- argparse's own words ------------------------------------------------------------------------
# argparse builds "usage:", "options", "show this help message and exit" and its error lines through
# gettext; these are its msgids (Python 3.11–3.13), each with the same %-fields in Korean.
ARGPARSE_KO: dict[str, str] = {
    "usage: ": "사용법: ",
    "options": "옵션",
    "positional arguments": "위치 인수",
    "show this help message and exit": "이 도움말을 보여 주고 끝냅니다",
    "show program's version number and exit": "프로그램 버전을 보여 주고 끝냅니다",
    "%(prog)s: error: %(message)s\n": "%(prog)s: 오류: %(message)s\n",
    "the following arguments are required: %s": "다음 인수가 필요합니다: %s",
    "unrecognized arguments: %s": "알 수 없는 인수: %s",
    "argument %(argument_name)s: %(message)s": "인수 %(argument_name)s: %(message)s",
    "invalid choice: %(value)r (choose from %(choices)s)": "잘못된 선택: %(value)r (선택지: %(choices)s)",
    "invalid %(type)s value: %(value)r": "잘못된 %(type)s 값: %(value)r",
    "expected one argument": "값이 하나 필요합니다",
    "expected at most one argument": "값은 많아야 하나입니다",
    "expected at least one argument": "값이 하나 이상 필요합니다",
    "ambiguous option: %(option)s could match %(matches)s": "모호한 옵션: %(option)s (후보: %(matches)s)",
    "not allowed with argument %s": "%s 인수와 함께 쓸 수 없습니다",
    "one of the arguments %s is required": "다음 인수 중 하나가 필요합니다: %s",
    "ignored explicit argument %r": "무시된 명시적 인수 %r",
    "can't open '%(filename)s': %(error)s": "'%(filename)s'을(를) 열 수 없습니다: %(error)s",
}
ARGPARSE_KO_PLURAL: dict[str, str] = {"expected %s argument": "값이 %s개 필요합니다"}


def argparse_text(message: str) -> str:
    """argparse's ``gettext``: Korean for its words unless the language is English."""
    return message if language() == "en" else ARGPARSE_KO.get(message, message)


def argparse_plural(singular: str, plural: str, n: int) -> str:
    """argparse's ``ngettext``."""
    if language() != "en" and singular in ARGPARSE_KO_PLURAL:
        return ARGPARSE_KO_PLURAL[singular]
    return singular if n == 1 else plural


def localize_argparse() -> None:
    """Route argparse's gettext calls through the catalog (argparse looks ``_``/``ngettext`` up in its
    module at call time). English returns argparse's own text unchanged."""
    import argparse

    argparse._ = argparse_text  # type: ignore[attr-defined]
    argparse.ngettext = argparse_plural  # type: ignore[attr-defined]

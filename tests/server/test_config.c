/*
 * tests/server/test_config.c - cfg_*: ini parsing and its errors (file:line),
 *   value types, .env, environment, flags precedence, validation, masking.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "server/config.h"
#include "server/paths.h"

#include "../lib/check.h"



static char dir[256];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

/* want: NULL = must load; otherwise the diag after "<path>" e.g. ":2: ...". */
static const struct {
    const char *ini;
    const char *want;
} ini_cases[] = {
    { "", NULL },
    { "; comment\n# comment\n[server]\nworkers = 4\n", NULL },
    { "[server]\nwokers = 4\n", ":2: unknown key \"wokers\" in [server]" },
    { "[server]\nworkers = 4\n\n[nope]\nx = 1\n", ":5: unknown section [nope]" },
    { "workers = 4\n", ":1: key \"workers\" outside a [section]" },
    { "[server]\nworkers = four\n",
      ":2: bad value \"four\" for key \"workers\" in [server]: expected a non-negative integer" },
    { "[server]\nworkers = -1\n",
      ":2: bad value \"-1\" for key \"workers\" in [server]: expected a non-negative integer" },
    { "[server]\nworkers = 4 ; inline\n",
      ":2: bad value \"4 ; inline\" for key \"workers\" in [server]: expected a non-negative integer" },
    { "[server]\nworkers = 99999999999\n",
      ":2: bad value \"99999999999\" for key \"workers\" in [server]: expected a non-negative integer" },
    { "[server]\ndebug = maybe\n",
      ":2: bad value \"maybe\" for key \"debug\" in [server]: expected true or false" },
    { "[server]\nsocket_mode = 0999\n",
      ":2: bad value \"0999\" for key \"socket_mode\" in [server]: expected an octal mode such as 0660" },
    { "[server]\nlog_level = loud\n",
      ":2: bad value \"loud\" for key \"log_level\" in [server]: expected debug, info, warn or error" },
    { "[server]\nthis line has no equals\n",
      ":2: syntax error: expected \"[section]\" or \"key = value\"" },
    { "[session]\nsecret_key = \n[cache]\npassword = x\nbogus = 1\n", ":5: unknown key \"bogus\" in [cache]" },
    { "[cache]\nitem_size_max = lots\n",
      ":2: bad value \"lots\" for key \"item_size_max\" in [cache]: expected a non-negative integer" },
    { "[database]\nurl = \"mysql://u:p@h/db\"\ntimeout_ms = 5\n", NULL },
};

static void test_ini_table(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/t.ini", dir);
    for (size_t i = 0; i < sizeof ini_cases / sizeof *ini_cases; i++) {
        struct cfg c;
        struct tl_diag d = { 0 };
        char got[1024], want[1024];
        cfg_defaults(&c);
        write_file(path, ini_cases[i].ini);
        enum tl_err e = cfg_load_ini(&c, path, &d);
        tl_diag_format(&d, got, sizeof got);
        if (!ini_cases[i].want) {
            CHECK(e == TL_OK, "case %zu %s: expected success, got %s", i, ini_cases[i].ini, got);
            continue;
        }
        snprintf(want, sizeof want, "%s%s", path, ini_cases[i].want);
        CHECK(e == TL_EPARSE, "case %zu %s: expected TL_EPARSE, got %d", i, ini_cases[i].ini, e);
        CHECK(strcmp(got, want) == 0, "case %zu %s:\n  got  %s\n  want %s", i, ini_cases[i].ini,
              got, want);
    }
}

static void test_values(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/v.ini", dir);
    char text[2048], fallbacks[601];
    memset(fallbacks, 'k', 600);
    fallbacks[600] = '\0';
    /* The last line is over inih's default 200-byte line buffer. */
    snprintf(text, sizeof text,
             "[server]\nlisten = unix:/tmp/x.sock\nsocket_mode = 0666\ndebug = yes\n"
             "workers = 3\n[limits]\nbody_max = 2048\n[database]\n"
             "url = \"sqlite:///tmp/a b.sqlite\"\n[cache]\ntcp_nodelay = off\n"
             "[session]\nsecret_key_fallbacks = %s\n", fallbacks);
    write_file(path, text);
    struct cfg c;
    struct tl_diag d = { 0 };
    cfg_defaults(&c);
    CHECK(cfg_load_ini(&c, path, &d) == TL_OK, "v.ini: %s", d.msg);
    CHECK(strcmp(c.listen, "unix:/tmp/x.sock") == 0, "listen %s", c.listen);
    CHECK(c.socket_mode == 0666, "mode %o", c.socket_mode);
    CHECK(c.debug, "debug");
    CHECK(c.workers == 3, "workers %u", c.workers);
    CHECK(c.body_max == 2048, "body_max %lu", c.body_max);
    CHECK(strcmp(c.db.url, "sqlite:///tmp/a b.sqlite") == 0, "url %s", c.db.url);
    CHECK(!c.cache.tcp_nodelay, "tcp_nodelay");
    CHECK(strlen(c.session.secret_key_fallbacks) == 600, "long line kept whole: %zu", strlen(c.session.secret_key_fallbacks));
    CHECK(strcmp(c.config_file, path) == 0, "config_file %s", c.config_file);

    /* defaults */
    cfg_defaults(&c);
    CHECK(strcmp(c.db.url, "sqlite:///instance/task-list.sqlite") == 0, "default url");
    CHECK(strcmp(c.templates, "") == 0, "default templates: empty (resolved by cfg_build)");
    CHECK(strcmp(c.monitor_allow, "127.0.0.0/8, ::1") == 0, "default monitor_allow");
    CHECK(c.body_max == 1048576 && c.params_max == 64, "default limits");
    CHECK(c.session.lifetime_s == 31 * 86400, "default lifetime");
    CHECK(c.read_timeout_s == 5, "default read_timeout_s %u", c.read_timeout_s);
    CHECK(strcmp(c.allowed_clients, "127.0.0.1,::1") == 0, "default allowed_clients %s", c.allowed_clients);
    CHECK(c.public_origin[0] == 0, "public_origin unset by default");
    CHECK(cfg_load_ini(&c, "/nonexistent/x.ini", &d) == TL_ENOTFOUND, "missing file");
}

static void test_precedence(void)
{
    char ini[512], cwd[512];
    snprintf(ini, sizeof ini, "%s/p.ini", dir);
    write_file(ini, "[server]\nworkers = 2\nmax_requests = 10\nrequest_timeout_s = 7\n"
                    "slow_request_ms = 9\n[database]\nurl = sqlite:///ini.sqlite\n");
    if (!getcwd(cwd, sizeof cwd) || chdir(dir) != 0) {
        perror("chdir");
        exit(1);
    }
    write_file(".env", "# dotenv\nexport TASKLIST_SERVER_MAX_REQUESTS=20\n"
                       "TASKLIST_SERVER_WORKERS='3'\nDATABASE_URL=\"sqlite:///env.sqlite\"\n"
                       "UNRELATED=1\n\nTASKLIST_SERVER_REQUEST_TIMEOUT_S=8\n");
    setenv("TASKLIST_SERVER_WORKERS", "4", 1);
    setenv("MEMCACHIER_SERVERS", "a:1,b:2", 1);
    setenv("SECRET_KEY", "from-the-environment-0123456789", 1);
    struct cfg c;
    struct tl_diag d = { 0 };
    CHECK(cfg_build(&c, ini, &d) == TL_OK, "build: %s", d.msg);
    CHECK(cfg_set(&c, "server", "workers", "5", &d) == TL_OK, "flag");
    CHECK(c.workers == 5, "flags win: %u", c.workers);
    CHECK(c.max_requests == 20, ".env over ini: %u", c.max_requests);
    CHECK(c.request_timeout_s == 8, ".env over ini: %u", c.request_timeout_s);
    CHECK(c.slow_request_ms == 9, "ini over defaults: %u", c.slow_request_ms);
    CHECK(strcmp(c.db.url, "sqlite:///env.sqlite") == 0, ".env alias: %s", c.db.url);
    CHECK(strcmp(c.cache.servers, "a:1,b:2") == 0, "env alias: %s", c.cache.servers);
    CHECK(strcmp(c.session.secret_key, "from-the-environment-0123456789") == 0, "SECRET_KEY");

    struct cfg c2;
    CHECK(cfg_build(&c2, ini, &d) == TL_OK, "build 2");
    CHECK(c2.workers == 4, "environment over .env: %u", c2.workers);

    setenv("TASKLIST_SERVER_WORKERS", "many", 1);
    CHECK(cfg_build(&c2, ini, &d) == TL_EPARSE, "bad env value refused");
    char msg[1024];
    tl_diag_format(&d, msg, sizeof msg);
    CHECK(strstr(msg, "environment") && strstr(msg, "TASKLIST_SERVER_WORKERS") && strstr(msg, "many"),
          "env error names the variable: %s", msg);
    unsetenv("TASKLIST_SERVER_WORKERS");

    write_file(".env", "TASKLIST_SERVER_DEBUG=perhaps\n");
    CHECK(cfg_build(&c2, ini, &d) == TL_EPARSE, "bad .env value refused");
    tl_diag_format(&d, msg, sizeof msg);
    CHECK(strcmp(msg, ".env:1: bad value \"perhaps\" for key \"debug\" in [server]: expected true or false") == 0,
          ".env error: %s", msg);
    write_file(".env", "no equals here\n");
    CHECK(cfg_build(&c2, ini, &d) == TL_EPARSE, ".env syntax");
    unlink(".env");
    CHECK(cfg_build(&c2, "/nonexistent.ini", &d) == TL_ENOTFOUND, "explicit missing file is an error");
    CHECK(cfg_set(&c2, "server", "wokers", "1", &d) == TL_EPARSE, "unknown flag key");
    CHECK(cfg_apply_env(&c2, "HOME", "/root", &d) == TL_ENOTFOUND, "unknown env name");
    unsetenv("MEMCACHIER_SERVERS");
    unsetenv("SECRET_KEY");

    /* an empty templates: the installed folder, absolute, unless the
     * working directory has templates/ (a checkout) */
    CHECK(cfg_build(&c2, ini, &d) == TL_OK, "build 3: %s", d.msg);
    char want[1024];
    snprintf(want, sizeof want, "%s/templates", paths_datadir());
    CHECK(c2.templates[0] == '/' && strcmp(c2.templates, want) == 0, "installed templates: %s",
          c2.templates);
    CHECK(mkdir("templates", 0755) == 0, "mkdir templates");
    CHECK(cfg_build(&c2, ini, &d) == TL_OK, "build 4: %s", d.msg);
    CHECK(strcmp(c2.templates, "templates") == 0, "checkout templates: %s", c2.templates);
    rmdir("templates");
    write_file(ini, "[server]\ntemplates = /srv/t\n");
    CHECK(cfg_build(&c2, ini, &d) == TL_OK && strcmp(c2.templates, "/srv/t") == 0,
          "an explicit templates is kept: %s", c2.templates);
    if (chdir(cwd) != 0)
        perror("chdir back");
}

static void test_validate_and_print(void)
{
    static const struct {
        const char *section, *key, *value;
        bool ok;
    } cases[] = {
        { "session", "secret_key", "a-real-secret-of-some-length", true },
        { "session", "secret_key", SESS_DEFAULT_SECRET, false },
        { "session", "secret_key", "", false },
        { "server", "workers", "257", false },
        { "server", "listen", "127.0.0.1:9000", true },
        { "server", "listen", "[::1]:9000", true },
        { "server", "listen", "unix:/run/tasklist/tasklist.sock", true },
        { "server", "listen", "localhost", false },
        { "server", "listen", "127.0.0.1:0", false },
        { "server", "listen", "::1:9000", false },
        { "server", "status_path", "status", false },
        { "server", "public_origin", "example.com", false },
        { "server", "public_origin", "https://example.com", true },
        { "server", "public_origin", "https://example.com/", true },
        { "server", "public_origin", "https://tasks.example.com, http://127.0.0.1:8080", true },
        { "server", "public_origin", "https://example.com,example.org", false },
        { "server", "public_origin", "https://example.com/app", false },
        { "server", "public_origin", "https://", false },
        { "server", "public_origin", "https://u@example.com", false },
        { "server", "allowed_clients", "127.0.0.1", true },
        { "server", "allowed_clients", "127.0.0.1, ::1, 10.0.0.7", true },
        { "server", "allowed_clients", "any", true },
        { "server", "allowed_clients", "", false },
        { "server", "allowed_clients", "localhost", false },
        { "server", "allowed_clients", "10.0.0.0/8", false },
        { "server", "allowed_clients", "127.0.0.1,,::1", false },
        { "limits", "read_timeout_s", "0", false },
        { "limits", "read_timeout_s", "2", true },
        { "limits", "body_max", "0", false },
        { "server", "metrics_path", "/metrics", true },
        { "server", "metrics_path", "metrics", false },
        { "server", "metrics_path", "/ping-and-metrics", true },
        { "server", "monitor_allow", "10.0.0.0/8, 192.168.1.7 fd00::/8", true },
        { "server", "monitor_allow", "", true },
        { "server", "monitor_allow", "localhost", false },
        { "server", "monitor_allow", "10.0.0.0/33", false },
        { "server", "monitor_allow", "::1/129", false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct cfg c;
        struct tl_diag d = { 0 };
        cfg_defaults(&c);
        if (strcmp(cases[i].key, "secret_key") != 0)
            cfg_set(&c, "session", "secret_key", "a-real-secret-of-some-length", &d);
        CHECK(cfg_set(&c, cases[i].section, cases[i].key, cases[i].value, &d) == TL_OK, "set %zu", i);
        enum tl_err e = cfg_validate(&c, &d);
        CHECK((e == TL_OK) == cases[i].ok, "validate case %zu [%s] %s = %s: got %d (%s)", i,
              cases[i].section, cases[i].key, cases[i].value, e, d.msg);
    }
    struct cfg c;
    struct tl_diag d = { 0 };
    cfg_defaults(&c);
    cfg_set(&c, "server", "debug", "true", &d);
    CHECK(cfg_validate(&c, &d) == TL_OK, "default secret allowed with debug");

    cfg_set(&c, "session", "secret_key", "s3cr3t-value", &d);
    cfg_set(&c, "cache", "password", "mc-pass-word", &d);
    cfg_set(&c, "session", "secret_key_fallbacks", "old-one,older", &d);
    cfg_set(&c, "database", "url", "mysql://tl:dbpass@127.0.0.1:3307/task_list", &d);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cfg_print(&c, f);
    fclose(f);
    CHECK(!strstr(text, "s3cr3t") && !strstr(text, "mc-pass") && !strstr(text, "old-one") &&
          !strstr(text, "dbpass"), "secrets masked:\n%s", text);
    CHECK(strstr(text, "url = mysql://tl:********@127.0.0.1:3307/task_list"), "url masked:\n%s", text);
    CHECK(strstr(text, "[server]\n") && strstr(text, "socket_mode = 0660\n") &&
          strstr(text, "debug = true\n") && strstr(text, "[session]\n"), "print:\n%s", text);
    /* The printed text loads back. */
    char path[512];
    snprintf(path, sizeof path, "%s/printed.ini", dir);
    write_file(path, text);
    struct cfg back;
    cfg_defaults(&back);
    CHECK(cfg_load_ini(&back, path, &d) == TL_OK, "printed config loads back: %u %s", d.line, d.msg);
    free(text);

    /* a password holding '@' (encoded or not) is masked whole */
    static const struct {
        const char *url, *want;
    } urls[] = {
        { "mysql://u:pa@ssWORDTAIL@127.0.0.1:1/db", "url = mysql://u:********@127.0.0.1:1/db\n" },
        { "mysql://u:pa%40ss@127.0.0.1:1/db", "url = mysql://u:********@127.0.0.1:1/db\n" },
        { "mysql://u:a:b/c@h/d", "url = mysql://u:********@h/d\n" },
        { "mysql://u@h/d", "url = mysql://u@h/d\n" },
        { "sqlite:///x@y.db", "url = sqlite:///x@y.db\n" },
    };
    for (size_t i = 0; i < sizeof urls / sizeof *urls; i++) {
        cfg_set(&c, "database", "url", urls[i].url, &d);
        f = open_memstream(&text, &len);
        cfg_print(&c, f);
        fclose(f);
        CHECK(strstr(text, urls[i].want) && !strstr(text, "WORDTAIL") && !strstr(text, "ss@") &&
                  !strstr(text, "%40"), "url %zu masked: want \"%s\" in\n%s", i, urls[i].want, text);
        free(text);
    }
}

static char *print_to_string(const struct cfg *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cfg_print(c, f);
    fclose(f);
    return text;
}

/* conf/tasklist.ini lists every key with exactly the built-in default. */
static void test_shipped_ini(void)
{
    const char *root = getenv("TL_SOURCE_ROOT");
    if (!root)
        return;
    char path[1024];
    snprintf(path, sizeof path, "%s/conf/tasklist.ini", root);
    struct cfg shipped, defaults;
    struct tl_diag d = { 0 };
    cfg_defaults(&shipped);
    cfg_defaults(&defaults);
    CHECK(cfg_load_ini(&shipped, path, &d) == TL_OK, "conf/tasklist.ini: %u: %s", d.line, d.msg);
    shipped.config_file[0] = '\0';
    char *a = print_to_string(&shipped), *b = print_to_string(&defaults);
    CHECK(strcmp(a, b) == 0, "conf/tasklist.ini differs from the defaults:\n%s\nvs\n%s", a, b);
    FILE *f = fopen(path, "r");
    char ini[16384];
    size_t n = f ? fread(ini, 1, sizeof ini - 1, f) : 0;
    ini[n] = '\0';
    if (f)
        fclose(f);
    for (char *line = strtok(b, "\n"); line; line = strtok(NULL, "\n")) {
        char *eq = strstr(line, " = ");
        if (!eq)
            continue;
        char key[128];
        snprintf(key, sizeof key, "\n%.*s =", (int)(eq - line), line);
        CHECK(strstr(ini, key), "conf/tasklist.ini lacks key %s", key + 1);
    }
    free(a);
    free(b);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/tl-test-config.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    unsetenv("TASKLIST_SERVER_WORKERS");
    unsetenv("DATABASE_URL");
    unsetenv("SECRET_KEY");
    test_ini_table();
    test_values();
    test_precedence();
    test_validate_and_print();
    test_shipped_ini();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup failed\n");
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}

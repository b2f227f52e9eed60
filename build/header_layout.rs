//! Arranges cbindgen's output into the order a reader wants: the header is the C
//! user's manual, read top to bottom. cbindgen orders items by kind and by
//! dependency; this puts each constant next to its type and groups everything
//! into sections with a short introduction, in the order of `SECTIONS`. An item
//! that no section names stops the build, so a new one is always placed.

/// (section title, introduction, the items in it, in order). Items are named as
/// they are declared: constants, types and functions alike.
pub const SECTIONS: &[(&str, &str, &[&str])] = &[
    (
        "Versions and limits",
        "",
        &[
            "CONNMAN_VERSION_MAJOR",
            "CONNMAN_VERSION_MINOR",
            "CONNMAN_VERSION_PATCH",
            "CONNMAN_MAX_HOST_LEN",
            "CONNMAN_MAX_UNIX_PATH_LEN",
            "CONNMAN_MAX_POOL_NAME_LEN",
            "CONNMAN_MAX_THREADS",
        ],
    ),
    (
        "Results",
        "Every fallible function returns one of these; connman_strerror() names it and\n\
         connman_last_error_message() says what exactly went wrong.",
        &[
            "connman_result",
            "CONNMAN_OK",
            "CONNMAN_ERR_INVALID_ARGUMENT",
            "CONNMAN_ERR_NOT_FOUND",
            "CONNMAN_ERR_CLOSED",
            "CONNMAN_ERR_NOT_CONNECTED",
            "CONNMAN_ERR_WOULD_BLOCK",
            "CONNMAN_ERR_EXISTS",
            "CONNMAN_ERR_PANIC",
            "CONNMAN_ERR_RESOLVE",
            "CONNMAN_ERR_TOO_LARGE",
            "CONNMAN_ERR_FACTORY",
            "CONNMAN_ERR_IN_CALLBACK",
            "CONNMAN_ERR_OS",
            "CONNMAN_ERR_FORKED",
            "CONNMAN_ERR_STATE",
        ],
    ),
    (
        "Handles, callbacks, options and stats",
        "",
        &[
            "connman_conn",
            "connman_pool",
            "connman_handler",
            "connman_handler_factory",
            "connman_options",
            "connman_state",
            "CONNMAN_STATE_CONNECTING",
            "CONNMAN_STATE_CONNECTED",
            "CONNMAN_STATE_RECONNECTING",
            "CONNMAN_STATE_CLOSING",
            "CONNMAN_STATE_CLOSED",
            "connman_stats",
            "connman_pool_stats",
        ],
    ),
    (
        "Errors and versions",
        "",
        &[
            "connman_version",
            "connman_strerror",
            "connman_last_error_message",
        ],
    ),
    (
        "Connections",
        "",
        &[
            "connman_options_default",
            "connman_connect",
            "connman_connect_unix",
            "connman_get_connection",
            "connman_get_connection_unix",
            "connman_fd",
            "connman_conn_from_fd",
            "connman_send",
            "connman_disconnect",
            "connman_get_stats",
        ],
    ),
    (
        "Pools",
        "Named groups of connections whose handlers a factory makes, as the original's\n\
         createPool(name, factory).",
        &[
            "connman_pool_create",
            "connman_pool_find",
            "connman_pool_add",
            "connman_pool_add_unix",
            "connman_pool_size",
            "connman_pool_get_connection",
            "connman_pool_get_handler",
            "connman_pool_conn",
            "connman_pool_next",
            "connman_pool_get_stats",
            "connman_pool_disconnect",
        ],
    ),
    (
        "The library as a whole: threads, shutdown",
        "",
        &[
            "connman_config",
            "connman_config_default",
            "connman_configure",
            "connman_disconnect_all",
            "connman_shutdown",
        ],
    ),
    (
        "Running on your own loop",
        "By default connman runs an I/O thread of its own and calls back on it. A program\n\
         that has an event loop already (poll or epoll, libuv, libevent, GLib, ...) can\n\
         run connman on that loop instead: no library I/O thread, every callback on the\n\
         loop's thread, no locks needed in the application.\n\
         \n\
         \x20   connman_config cfg = connman_config_default();\n\
         \x20   cfg.threads = 0;                 // embedded mode\n\
         \x20   connman_configure(&cfg);         // before the first connection\n\
         \x20   int efd = connman_event_fd();    // watch it for readability\n\
         \x20   connman_connect(...);            // as usual\n\
         \x20   for (;;) {\n\
         \x20       struct pollfd p[2] = {{efd, POLLIN, 0}, {my_fd, POLLIN, 0}};\n\
         \x20       poll(p, 2, -1);              // no timeout: connman's timers are in efd\n\
         \x20       if (p[0].revents & POLLIN)\n\
         \x20           connman_dispatch();      // runs the callbacks, never blocks\n\
         \x20       ...\n\
         \x20   }\n\
         \x20   connman_shutdown();              // runs the remaining on_close here\n\
         \n\
         With libuv: uv_poll_init(loop, &handle, efd) and uv_poll_start(&handle,\n\
         UV_READABLE, cb) with cb calling connman_dispatch(). The descriptor becomes\n\
         readable when a connection has I/O, a timer is due (backoff, connect and idle\n\
         timeouts) or another thread called connman; while nothing is due it stays\n\
         unreadable, so an idle program sleeps.\n\
         \n\
         Every guarantee holds as with a library thread. Any thread may call connman;\n\
         the effect happens at the next dispatch. connman_dispatch must not be called\n\
         from inside a callback. Use numeric hosts or options.resolve_in_background = 1\n\
         so that connman_connect never waits for DNS on the loop's thread.\n\
         c-examples/loop_poll.c and c-examples/loop_libuv.c are complete programs.\n\
         \n\
         threads = N > 1 is the other way round: N library threads share the\n\
         connections, each connection's callbacks on one of them.",
        &["connman_event_fd", "connman_dispatch"],
    ),
    (
        "Logging",
        "",
        &[
            "connman_log_level",
            "CONNMAN_LOG_ERROR",
            "CONNMAN_LOG_WARN",
            "CONNMAN_LOG_INFO",
            "CONNMAN_LOG_DEBUG",
            "connman_log_fn",
            "connman_set_log",
        ],
    ),
];

/// One top-level item of the header: its doc comment and its declaration.
struct Item {
    name: String,
    text: String,
}

/// The name an item declares, from its declaration's lines.
fn declared_name(decl: &str) -> Option<String> {
    let first = decl.lines().next()?.trim();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    if let Some(rest) = first.strip_prefix("#define ") {
        return Some(ident(rest));
    }
    if first.starts_with("typedef struct") {
        let last = decl.lines().last()?.trim();
        return Some(ident(last.trim_start_matches('}').trim()));
    }
    if let Some(rest) = first.strip_prefix("typedef ") {
        if let Some(i) = rest.find("(*") {
            return Some(ident(&rest[i + 2..]));
        }
        return Some(ident(rest.trim_end_matches(';').rsplit(' ').next()?));
    }
    // A function: the identifier before the first '('.
    let head = &first[..first.find('(')?];
    Some(ident(head.rsplit([' ', '*']).next()?))
}

/// Rewrites cbindgen's header: `preamble` (everything up to the first item),
/// then the sections, functions inside the `extern "C"` block, then the end.
pub fn arrange(h: &str) -> String {
    let lines: Vec<&str> = h.lines().collect();
    let is_item_start = |l: &str| {
        l.starts_with("/**")
            || l.starts_with("#define CONNMAN_")
            || l.starts_with("typedef ")
            || (l.starts_with("connman_")
                || l.starts_with("const char *connman_")
                || l.starts_with("int connman_")
                || l.starts_with("struct connman_"))
    };
    let first = lines
        .iter()
        .position(|l| is_item_start(l) && !l.starts_with("#define CONNMAN_H"))
        .expect("the header has items");
    let preamble = lines[..first].join("\n");
    let mut items: Vec<Item> = Vec::new();
    let mut i = first;
    while i < lines.len() {
        let l = lines[i];
        if l.is_empty()
            || l.starts_with("#ifdef __cplusplus")
            || l.starts_with("extern \"C\"")
            || l.starts_with("#endif")
            || l.starts_with('}') && l.contains("extern")
        {
            i += 1;
            continue;
        }
        // Doc comment, then the declaration up to its terminating ';'.
        let start = i;
        if l.starts_with("/**") {
            while !lines[i].trim_end().ends_with("*/") {
                i += 1;
            }
            i += 1;
        }
        let decl_start = i;
        if lines[i].starts_with("#define") {
            i += 1;
        } else if lines[i].starts_with("typedef struct") {
            while !lines[i].starts_with('}') {
                i += 1;
            }
            i += 1;
        } else {
            while !lines[i].trim_end().ends_with(';') {
                i += 1;
            }
            i += 1;
        }
        let decl = lines[decl_start..i].join("\n");
        let name = declared_name(&decl).unwrap_or_else(|| panic!("no name in {decl:?}"));
        items.push(Item {
            name,
            text: lines[start..i].join("\n"),
        });
    }
    let mut out = String::new();
    out.push_str(preamble.trim_end());
    out.push_str("\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n");
    let mut placed = std::collections::HashSet::new();
    for (title, intro, names) in SECTIONS {
        let rule = "=".repeat(80usize.saturating_sub(9 + title.len()).max(4));
        out.push_str(&format!("\n/* ==== {title} {rule}"));
        if intro.is_empty() {
            out.push_str(" */\n");
        } else {
            out.push_str("\n *\n");
            for l in intro.lines() {
                out.push_str(&format!(" *{}{l}\n", if l.is_empty() { "" } else { " " }));
            }
            out.push_str(" */\n");
        }
        for name in *names {
            let item = items
                .iter()
                .find(|it| it.name == *name)
                .unwrap_or_else(|| panic!("header layout names {name}, which the header lacks"));
            out.push('\n');
            out.push_str(&item.text);
            out.push('\n');
            placed.insert(*name);
        }
    }
    for it in &items {
        assert!(
            placed.contains(it.name.as_str()),
            "build/header_layout.rs places no item named {} (add it to a section)",
            it.name
        );
    }
    out.push_str(
        "\n#ifdef __cplusplus\n}  /* extern \"C\" */\n#endif\n\n#endif  /* CONNMAN_H */\n",
    );
    out
}

//! Keys → actions. The keymap is data (one table per mode, which the help overlay also
//! lists) and [`action`] is a pure function of the key and the input mode.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};

/// What the keyboard is currently talking to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The three-pane reader.
    Reader,
    /// The incident timeline.
    Timeline,
    /// Typing a search query.
    Search,
    /// Choosing a tag or feed from a pop-up list (typing narrows it).
    Picker,
    /// The help overlay.
    Help,
}

/// Everything the user can ask for. Text-entry modes produce `Input`/`Backspace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Selection or scroll one step up.
    Up,
    /// Selection or scroll one step down.
    Down,
    /// Timeline: one bucket to the left.
    Left,
    /// Timeline: one bucket to the right.
    Right,
    /// First item.
    Top,
    /// Last item (in the list: the last loaded article; more load from there).
    Bottom,
    /// One screen up.
    PageUp,
    /// One screen down.
    PageDown,
    /// Focus the next pane.
    NextPane,
    /// Focus the previous pane.
    PrevPane,
    /// Open the selection (article, sidebar filter, timeline bucket, picker choice).
    Open,
    /// Close the article / overlay / leave the current mode.
    Back,
    /// Start typing a search.
    StartSearch,
    /// Next search match.
    NextMatch,
    /// Previous search match.
    PrevMatch,
    /// Choose a tag to filter by.
    PickTag,
    /// Choose a feed to filter by.
    PickFeed,
    /// Show unread articles only (toggle).
    ToggleUnread,
    /// Star or unstar the article.
    ToggleStar,
    /// Mark the article read or unread.
    ToggleRead,
    /// Fetch all feeds in the background.
    Refresh,
    /// Open the article's link in the browser.
    OpenLink,
    /// Save the current search to the sidebar.
    SaveSearch,
    /// Drop every filter and the search.
    ClearFilters,
    /// Switch between the reader and the incident timeline.
    ToggleTimeline,
    /// Timeline: day → week → month buckets.
    CycleBuckets,
    /// Show or hide the help overlay.
    Help,
    /// Quit kessai.
    Quit,
    /// Suspend to the shell (Ctrl-Z).
    Suspend,
    /// A typed character (search and picker prompts).
    Input(char),
    /// Delete the last typed character.
    Backspace,
}

/// A key as written in the keymap tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The key.
    pub code: KeyCode,
    /// Modifiers that must be held (SHIFT is ignored for characters: `G` is `G`).
    pub mods: KeyModifiers,
}

const fn k(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::NONE,
    }
}
const fn code(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::NONE,
    }
}
const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::CONTROL,
    }
}

/// One row of a keymap: the keys, what they do, and the line the help overlay shows.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// Keys that trigger it.
    pub keys: &'static [Key],
    /// The action.
    pub action: Action,
    /// How the help overlay names the keys.
    pub label: &'static str,
    /// What the help overlay says it does.
    pub help: &'static str,
}

const fn b(
    keys: &'static [Key],
    action: Action,
    label: &'static str,
    help: &'static str,
) -> Binding {
    Binding {
        keys,
        action,
        label,
        help,
    }
}

/// Keys that work in every mode that is not a text prompt.
pub const GLOBAL: &[Binding] = &[
    b(&[k('?')], Action::Help, "?", "help (this list)"),
    b(&[k('q'), ctrl('c')], Action::Quit, "q  Ctrl-C", "quit"),
    b(
        &[ctrl('z')],
        Action::Suspend,
        "Ctrl-Z",
        "suspend to the shell",
    ),
];

/// The reader's keys.
pub const READER: &[Binding] = &[
    b(
        &[k('j'), code(KeyCode::Down)],
        Action::Down,
        "j  ↓",
        "down / scroll",
    ),
    b(
        &[k('k'), code(KeyCode::Up)],
        Action::Up,
        "k  ↑",
        "up / scroll",
    ),
    b(
        &[k('g'), code(KeyCode::Home)],
        Action::Top,
        "g  Home",
        "first",
    ),
    b(
        &[k('G'), code(KeyCode::End)],
        Action::Bottom,
        "G  End",
        "last loaded (loads more)",
    ),
    b(
        &[code(KeyCode::PageUp), ctrl('b')],
        Action::PageUp,
        "PgUp",
        "page up",
    ),
    b(
        &[code(KeyCode::PageDown), ctrl('f'), k(' ')],
        Action::PageDown,
        "PgDn  Space",
        "page down",
    ),
    b(&[code(KeyCode::Tab)], Action::NextPane, "Tab", "next pane"),
    b(
        &[code(KeyCode::BackTab)],
        Action::PrevPane,
        "Shift-Tab",
        "previous pane",
    ),
    b(
        &[code(KeyCode::Enter), k('l'), code(KeyCode::Right)],
        Action::Open,
        "Enter  l",
        "open article / sidebar filter",
    ),
    b(
        &[code(KeyCode::Esc), k('h'), code(KeyCode::Left)],
        Action::Back,
        "Esc  h",
        "back to the list",
    ),
    b(&[k('/')], Action::StartSearch, "/", "search"),
    b(&[k('n')], Action::NextMatch, "n", "next match"),
    b(&[k('N')], Action::PrevMatch, "N", "previous match"),
    b(&[k('t')], Action::PickTag, "t", "filter by tag"),
    b(&[k('f')], Action::PickFeed, "f", "filter by feed"),
    b(&[k('u')], Action::ToggleUnread, "u", "unread only on/off"),
    b(
        &[k('c')],
        Action::ClearFilters,
        "c",
        "clear filters and search",
    ),
    b(
        &[k('+')],
        Action::SaveSearch,
        "+",
        "save search to the sidebar",
    ),
    b(&[k('s')], Action::ToggleStar, "s", "star / unstar"),
    b(&[k('r')], Action::ToggleRead, "r", "mark read / unread"),
    b(
        &[k('R')],
        Action::Refresh,
        "R",
        "refresh all feeds (background)",
    ),
    b(&[k('o')], Action::OpenLink, "o", "open link in the browser"),
    b(&[k('T')], Action::ToggleTimeline, "T", "incident timeline"),
];

/// The timeline's keys.
pub const TIMELINE: &[Binding] = &[
    b(
        &[k('j'), code(KeyCode::Down)],
        Action::Down,
        "j  ↓",
        "next service",
    ),
    b(
        &[k('k'), code(KeyCode::Up)],
        Action::Up,
        "k  ↑",
        "previous service",
    ),
    b(
        &[k('h'), code(KeyCode::Left)],
        Action::Left,
        "h  ←",
        "earlier bucket",
    ),
    b(
        &[k('l'), code(KeyCode::Right)],
        Action::Right,
        "l  →",
        "later bucket",
    ),
    b(
        &[k('g'), code(KeyCode::Home)],
        Action::Top,
        "g",
        "first bucket",
    ),
    b(
        &[k('G'), code(KeyCode::End)],
        Action::Bottom,
        "G",
        "last bucket",
    ),
    b(&[k('w')], Action::CycleBuckets, "w", "day / week / month"),
    b(
        &[code(KeyCode::Enter)],
        Action::Open,
        "Enter",
        "list the bucket's articles",
    ),
    b(
        &[k('T'), code(KeyCode::Esc)],
        Action::ToggleTimeline,
        "T  Esc",
        "back to the reader",
    ),
    b(&[k('R')], Action::Refresh, "R", "refresh all feeds"),
];

/// Keys in the search prompt and the picker (everything else printable is typed).
pub const PROMPT: &[Binding] = &[
    b(
        &[code(KeyCode::Enter)],
        Action::Open,
        "Enter",
        "run / choose",
    ),
    b(&[code(KeyCode::Esc)], Action::Back, "Esc", "cancel"),
    b(
        &[code(KeyCode::Backspace)],
        Action::Backspace,
        "Backspace",
        "delete",
    ),
    b(&[code(KeyCode::Up)], Action::Up, "↑", "picker: previous"),
    b(&[code(KeyCode::Down)], Action::Down, "↓", "picker: next"),
    b(&[ctrl('c')], Action::Quit, "Ctrl-C", "quit"),
    b(&[ctrl('z')], Action::Suspend, "Ctrl-Z", "suspend"),
];

fn matches(key: &Key, ev: &KeyEvent) -> bool {
    let mods = if matches!(ev.code, KeyCode::Char(_)) {
        // Terminals report `G` with or without SHIFT; the character already says it.
        ev.modifiers - KeyModifiers::SHIFT
    } else {
        ev.modifiers
    };
    key.code == ev.code && key.mods == mods
}

fn lookup(table: &[Binding], ev: &KeyEvent) -> Option<Action> {
    table
        .iter()
        .find(|bind| bind.keys.iter().any(|key| matches(key, ev)))
        .map(|bind| bind.action)
}

/// The action for a key press in a mode, or `None` for keys that mean nothing there.
/// Key releases are ignored (terminals with the kitty protocol report them).
pub fn action(ev: KeyEvent, mode: Mode) -> Option<Action> {
    if ev.kind == KeyEventKind::Release {
        return None;
    }
    match mode {
        Mode::Search | Mode::Picker => lookup(PROMPT, &ev).or(match ev.code {
            KeyCode::Char(c)
                if !ev
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                Some(Action::Input(c))
            }
            _ => None,
        }),
        Mode::Help => match ev.code {
            KeyCode::Char('j') | KeyCode::Down => Some(Action::Down),
            KeyCode::Char('k') | KeyCode::Up => Some(Action::Up),
            _ => match lookup(GLOBAL, &ev) {
                Some(Action::Quit) if ev.code == KeyCode::Char('q') => Some(Action::Help),
                Some(a) => Some(a),
                // Any other key closes the overlay.
                None => Some(Action::Help),
            },
        },
        Mode::Reader => lookup(GLOBAL, &ev).or_else(|| lookup(READER, &ev)),
        Mode::Timeline => lookup(GLOBAL, &ev).or_else(|| lookup(TIMELINE, &ev)),
    }
}

/// The action for a mouse event: the wheel scrolls whatever is under the keyboard focus.
pub fn mouse_action(ev: MouseEvent, mode: Mode) -> Option<Action> {
    match (ev.kind, mode) {
        (_, Mode::Help) => None,
        (MouseEventKind::ScrollDown, _) => Some(Action::Down),
        (MouseEventKind::ScrollUp, _) => Some(Action::Up),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyEventState, MouseEvent};

    fn press(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent {
            code,
            modifiers: mods,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        }
    }
    fn ch(c: char) -> KeyEvent {
        press(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn vim_and_arrow_keys_agree() {
        assert_eq!(action(ch('j'), Mode::Reader), Some(Action::Down));
        assert_eq!(
            action(press(KeyCode::Down, KeyModifiers::NONE), Mode::Reader),
            Some(Action::Down)
        );
        assert_eq!(action(ch('k'), Mode::Reader), Some(Action::Up));
        assert_eq!(action(ch('g'), Mode::Reader), Some(Action::Top));
        assert_eq!(
            action(press(KeyCode::Char('G'), KeyModifiers::SHIFT), Mode::Reader),
            Some(Action::Bottom)
        );
        assert_eq!(action(ch('G'), Mode::Reader), Some(Action::Bottom));
    }

    #[test]
    fn every_brief_key_is_bound_in_the_reader() {
        let expect = [
            ('/', Action::StartSearch),
            ('n', Action::NextMatch),
            ('N', Action::PrevMatch),
            ('t', Action::PickTag),
            ('f', Action::PickFeed),
            ('u', Action::ToggleUnread),
            ('s', Action::ToggleStar),
            ('r', Action::ToggleRead),
            ('R', Action::Refresh),
            ('o', Action::OpenLink),
            ('?', Action::Help),
            ('q', Action::Quit),
        ];
        for (c, a) in expect {
            assert_eq!(action(ch(c), Mode::Reader), Some(a), "key {c}");
        }
        assert_eq!(
            action(press(KeyCode::Tab, KeyModifiers::NONE), Mode::Reader),
            Some(Action::NextPane)
        );
        assert_eq!(
            action(press(KeyCode::Enter, KeyModifiers::NONE), Mode::Reader),
            Some(Action::Open)
        );
        assert_eq!(
            action(press(KeyCode::PageDown, KeyModifiers::NONE), Mode::Reader),
            Some(Action::PageDown)
        );
        assert_eq!(
            action(
                press(KeyCode::Char('z'), KeyModifiers::CONTROL),
                Mode::Reader
            ),
            Some(Action::Suspend)
        );
    }

    #[test]
    fn prompts_take_text_including_keys_bound_elsewhere() {
        assert_eq!(action(ch('q'), Mode::Search), Some(Action::Input('q')));
        assert_eq!(action(ch('決'), Mode::Search), Some(Action::Input('決')));
        assert_eq!(action(ch('j'), Mode::Picker), Some(Action::Input('j')));
        assert_eq!(
            action(press(KeyCode::Esc, KeyModifiers::NONE), Mode::Search),
            Some(Action::Back)
        );
        assert_eq!(
            action(
                press(KeyCode::Char('c'), KeyModifiers::CONTROL),
                Mode::Search
            ),
            Some(Action::Quit)
        );
        assert_eq!(
            action(press(KeyCode::Char('x'), KeyModifiers::ALT), Mode::Search),
            None
        );
    }

    #[test]
    fn help_closes_on_any_key_but_q_does_not_quit_from_it() {
        assert_eq!(action(ch('x'), Mode::Help), Some(Action::Help));
        assert_eq!(action(ch('q'), Mode::Help), Some(Action::Help));
        assert_eq!(action(ch('j'), Mode::Help), Some(Action::Down));
        assert_eq!(
            action(press(KeyCode::Char('c'), KeyModifiers::CONTROL), Mode::Help),
            Some(Action::Quit)
        );
    }

    #[test]
    fn timeline_keys() {
        assert_eq!(action(ch('h'), Mode::Timeline), Some(Action::Left));
        assert_eq!(action(ch('l'), Mode::Timeline), Some(Action::Right));
        assert_eq!(action(ch('w'), Mode::Timeline), Some(Action::CycleBuckets));
        assert_eq!(
            action(ch('T'), Mode::Timeline),
            Some(Action::ToggleTimeline)
        );
        assert_eq!(action(ch('T'), Mode::Reader), Some(Action::ToggleTimeline));
    }

    #[test]
    fn releases_and_unbound_keys_do_nothing() {
        let mut ev = ch('j');
        ev.kind = KeyEventKind::Release;
        assert_eq!(action(ev, Mode::Reader), None);
        assert_eq!(action(ch('x'), Mode::Reader), None);
    }

    #[test]
    fn no_key_is_bound_twice_in_one_mode() {
        for (global, table) in [(GLOBAL, READER), (GLOBAL, TIMELINE), (&[][..], PROMPT)] {
            let all: Vec<Key> = global
                .iter()
                .chain(table.iter())
                .flat_map(|b| b.keys.iter().copied())
                .collect();
            for (i, a) in all.iter().enumerate() {
                assert!(!all[i + 1..].contains(a), "{a:?} bound twice");
            }
        }
    }

    #[test]
    fn wheel_scrolls() {
        let ev = MouseEvent {
            kind: MouseEventKind::ScrollDown,
            column: 0,
            row: 0,
            modifiers: KeyModifiers::NONE,
        };
        assert_eq!(mouse_action(ev, Mode::Reader), Some(Action::Down));
        assert_eq!(mouse_action(ev, Mode::Help), None);
    }
}

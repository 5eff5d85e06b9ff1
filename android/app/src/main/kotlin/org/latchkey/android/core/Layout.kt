// The screens of the app model, laid out as a list of nodes: what is shown, in which order,
// with which accessible names. No decisions: every text, state and action comes from the
// view; this only orders them (the same order as the desktop shell, windows/src/draw.rs).
// Plain Kotlin (no android.*), so it is compiled and tested on the JVM (tests/kotlin).
package org.latchkey.android.core

import uniffi.latchkey.AccountRow
import uniffi.latchkey.AppView
import uniffi.latchkey.ButtonView
import uniffi.latchkey.DigitsInput
import uniffi.latchkey.Notice
import uniffi.latchkey.Screen
import uniffi.latchkey.TextInput
import uniffi.latchkey.Tone

/** One thing on a screen. */
sealed class Node {
    /** A line of text; `tone` colours it, `strong` makes it bold. */
    data class Line(val text: String, val tone: Tone = Tone.INFO, val strong: Boolean = false) : Node()

    /** A button: its label, accessible name, enabled state and action are the view's. */
    data class Button(val button: ButtonView) : Node()

    /** Buttons side by side (they wrap on narrow screens). */
    data class Buttons(val buttons: List<ButtonView>) : Node()

    /** A digits field (PIN, number, mailed code): typed digit by digit, never kept here. */
    data class Digits(val input: DigitsInput) : Node()

    /** A text field (a password, a pasted link). */
    data class Field(val input: TextInput) : Node()

    /** The camera preview, while the scan screen is shown, with its accessible name. */
    data class Camera(val a11y: String) : Node()

    /** An account as a card: a button opening it, then its lines. */
    data class Account(val open: ButtonView, val lines: List<Line>) : Node()

    /** A countdown that the app moves each second (announced politely, not every tick). */
    data class Countdown(val text: String) : Node()
}

/** A whole screen. */
data class Layout(
    val title: String,
    val back: ButtonView?,
    /** Shown above everything, announced to screen readers when it changes. */
    val notice: Notice?,
    /** Work in progress (a spinner with this text; the view's controls are disabled). */
    val busy: String?,
    val nodes: List<Node>,
    /** Keep out of screenshots and the app switcher (`FLAG_SECURE`). */
    val secure: Boolean,
    /** Grows with every view: draw only a newer one. */
    val revision: ULong,
)

object Layouts {
    fun of(view: AppView): Layout = Layout(
        title = view.title,
        back = view.back,
        notice = view.notice,
        busy = view.busy,
        nodes = nodes(view.screen),
        secure = view.secure,
        revision = view.revision,
    )

    private fun account(row: AccountRow): Node.Account = Node.Account(
        open = row.open,
        lines = listOfNotNull(
            Node.Line(row.account),
            Node.Line(row.host),
            Node.Line(row.status, tone = if (row.locked) Tone.ERROR else Tone.INFO),
            Node.Line(row.assurance),
            row.pendingText?.let { Node.Line(it, strong = true) },
        ),
    )

    private fun lines(vararg texts: String?): List<Node> = texts.filterNotNull().map { Node.Line(it) }

    private fun nodes(screen: Screen): List<Node> = when (screen) {
        is Screen.Accounts -> screen.v1.let { s ->
            s.accounts.map(::account) +
                lines(s.empty) +
                listOfNotNull(
                    s.keystoreWarning?.let { Node.Line(it, Tone.WARNING) },
                    s.notificationsWarning?.let { Node.Line(it, Tone.WARNING) },
                ) +
                Node.Buttons(listOf(s.add, s.checkNow, s.settings))
        }
        is Screen.Account -> screen.v1.let { s ->
            listOf(account(s.account)) +
                s.requests.map { Node.Button(it.open) } +
                lines(s.none) +
                Node.Buttons(listOf(s.changePin, s.forgotPin, s.remove))
        }
        is Screen.Scan -> screen.v1.let { s ->
            listOf(Node.Camera(s.cameraA11y), Node.Line(s.guidance, s.tone), Node.Field(s.link), Node.Button(s.useLink)) +
                listOfNotNull(s.scanScreens, s.pasteImage, s.openImage).map { Node.Button(it) }
        }
        is Screen.Enrol -> screen.v1.let { s ->
            lines(s.who, s.instruction) +
                listOfNotNull(Node.Digits(s.pin), s.pinAgain?.let { Node.Digits(it) }) +
                lines(s.feedback) +
                Node.Button(s.submit) +
                listOfNotNull(s.done?.let { Node.Button(it) })
        }
        is Screen.Request -> screen.v1.let { s ->
            listOf(Node.Line(s.who, strong = true)) +
                lines(s.account, s.ip, s.place, s.time) +
                listOfNotNull(if (s.secondsLeft > 0u) Node.Countdown(s.countdown) else null) +
                Node.Digits(s.code) +
                Node.Digits(s.pin) +
                Node.Buttons(listOf(s.approve, s.deny, s.notMe)) +
                listOfNotNull(s.forgotPin, s.done).map { Node.Button(it) }
        }
        is Screen.ChangePin -> screen.v1.let { s ->
            lines(s.account) +
                listOf(Node.Digits(s.old), Node.Digits(s.new), Node.Digits(s.again)) +
                lines(s.feedback) +
                Node.Button(s.submit) +
                listOfNotNull(s.done?.let { Node.Button(it) })
        }
        is Screen.ForgotPin -> screen.v1.let { s ->
            lines(s.account, s.intro) +
                listOfNotNull(s.password?.let { Node.Field(it) }) +
                listOfNotNull(s.code, s.new, s.again).map { Node.Digits(it) } +
                lines(s.feedback) +
                Node.Button(s.submit) +
                listOfNotNull(s.done?.let { Node.Button(it) })
        }
        is Screen.Remove -> screen.v1.let { s ->
            lines(s.intro) + Node.Digits(s.pin) + Node.Button(s.submit)
        }
        is Screen.Settings -> screen.v1.let { s ->
            lines(s.languageLabel) + Node.Buttons(s.languages) + lines(s.about, s.version)
        }
    }

    /** Every button of a layout (for tests, and the shell's focus order). */
    fun buttons(layout: Layout): List<ButtonView> = listOfNotNull(layout.back) + layout.nodes.flatMap {
        when (it) {
            is Node.Button -> listOf(it.button)
            is Node.Buttons -> it.buttons
            is Node.Account -> listOf(it.open)
            else -> emptyList()
        }
    }
}

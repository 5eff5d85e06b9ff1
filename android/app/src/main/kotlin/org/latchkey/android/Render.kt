// Draws a Layout with the framework's own widgets (no AndroidX: everything here compiles
// against the Android framework alone, android/README.md). Every text, state, accessible name
// and action is the view's; a press or a typed digit becomes an event for the app. When a new
// layout has the same shape as the one shown, the widgets are updated in place, so focus and
// the keyboard stay where they were.
package org.latchkey.android

import android.app.Activity
import android.graphics.Color
import android.graphics.Typeface
import android.text.Editable
import android.text.InputType
import android.text.TextWatcher
import android.view.KeyEvent
import android.view.TextureView
import android.view.View
import android.view.ViewGroup
import android.widget.Button
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.ProgressBar
import android.widget.ScrollView
import android.widget.TextView
import org.latchkey.android.core.Layout
import org.latchkey.android.core.Node
import uniffi.latchkey.AppEvent
import uniffi.latchkey.ButtonView
import uniffi.latchkey.DigitsInput
import uniffi.latchkey.TextInput
import uniffi.latchkey.Tone

class Render(
    private val activity: Activity,
    private val send: (AppEvent) -> Unit,
    private val camera: CameraScanner,
) {
    private val column = LinearLayout(activity).apply {
        orientation = LinearLayout.VERTICAL
        setPadding(dp(16), dp(16), dp(16), dp(16))
    }
    val root: View = ScrollView(activity).apply { addView(column) }

    private val back = Button(activity)
    private val title = TextView(activity).apply {
        textSize = 22f
        setTypeface(typeface, Typeface.BOLD)
        isAccessibilityHeading = true
    }
    private val notice = TextView(activity).apply {
        accessibilityLiveRegion = View.ACCESSIBILITY_LIVE_REGION_POLITE
        setTypeface(typeface, Typeface.BOLD)
    }
    private val busy = LinearLayout(activity).apply {
        orientation = LinearLayout.HORIZONTAL
        addView(ProgressBar(activity))
        addView(TextView(activity).apply { accessibilityLiveRegion = View.ACCESSIBILITY_LIVE_REGION_POLITE })
    }
    private val body = LinearLayout(activity).apply { orientation = LinearLayout.VERTICAL }
    private var shape: List<String> = emptyList()

    init {
        column.addView(back)
        column.addView(title)
        column.addView(notice)
        column.addView(busy)
        column.addView(body)
    }

    fun show(layout: Layout) {
        button(back, layout.back)
        title.text = layout.title
        activity.title = layout.title
        notice.visibility = if (layout.notice == null) View.GONE else View.VISIBLE
        layout.notice?.let {
            notice.text = it.text
            notice.setTextColor(color(it.tone))
        }
        busy.visibility = if (layout.busy == null) View.GONE else View.VISIBLE
        (busy.getChildAt(1) as TextView).text = layout.busy ?: ""
        val newShape = layout.nodes.map(::kind)
        if (newShape != shape) {
            camera.detach()
            body.removeAllViews()
            layout.nodes.forEach { body.addView(create(it)) }
            shape = newShape
        }
        layout.nodes.forEachIndexed { i, node -> update(body.getChildAt(i), node) }
    }

    private fun kind(node: Node): String = when (node) {
        is Node.Buttons -> "buttons${node.buttons.size}"
        is Node.Account -> "account${node.lines.size}"
        is Node.Digits -> "digits-${node.input.field}"
        is Node.Field -> "field-${node.input.field}"
        else -> node::class.java.simpleName
    }

    private fun create(node: Node): View = when (node) {
        is Node.Line, is Node.Countdown -> TextView(activity)
        is Node.Button -> Button(activity)
        is Node.Buttons -> LinearLayout(activity).apply {
            orientation = LinearLayout.VERTICAL
            repeat(node.buttons.size) { addView(Button(activity)) }
        }
        is Node.Digits -> digits(node.input)
        is Node.Field -> field(node.input)
        is Node.Camera -> TextureView(activity).apply {
            layoutParams = ViewGroup.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT, dp(280))
            camera.attach(this)
        }
        is Node.Account -> LinearLayout(activity).apply {
            orientation = LinearLayout.VERTICAL
            setPadding(0, dp(8), 0, dp(8))
            addView(Button(activity))
            repeat(node.lines.size) { addView(TextView(activity)) }
        }
    }

    private fun update(view: View, node: Node) {
        when (node) {
            is Node.Line -> line(view as TextView, node)
            is Node.Countdown -> (view as TextView).text = node.text
            is Node.Button -> button(view as Button, node.button)
            is Node.Buttons -> node.buttons.forEachIndexed { i, b ->
                button((view as LinearLayout).getChildAt(i) as Button, b)
            }
            is Node.Digits -> updateDigits(view as LinearLayout, node.input)
            is Node.Field -> {
                val edit = (view as LinearLayout).getChildAt(1) as EditText
                (view.getChildAt(0) as TextView).text = node.input.label
                edit.isEnabled = node.input.enabled
            }
            is Node.Camera -> view.contentDescription = node.a11y
            is Node.Account -> {
                val card = view as LinearLayout
                button(card.getChildAt(0) as Button, node.open)
                node.lines.forEachIndexed { i, l -> line(card.getChildAt(i + 1) as TextView, l) }
            }
        }
    }

    private fun line(view: TextView, node: Node.Line) {
        view.text = node.text
        view.setTextColor(color(node.tone))
        view.setTypeface(null, if (node.strong) Typeface.BOLD else Typeface.NORMAL)
    }

    private fun button(view: Button, button: ButtonView?) {
        view.visibility = if (button == null) View.GONE else View.VISIBLE
        button ?: return
        view.text = button.label
        view.contentDescription = button.a11y
        view.isEnabled = button.enabled
        view.setOnClickListener { send(AppEvent.Press(button.action)) }
    }

    /** A digits field: a label, the boxes (dots, or the digits when not secret), an input that
     *  passes each digit to the app and keeps nothing, and the erase button. */
    private fun digits(input: DigitsInput): View = LinearLayout(activity).apply {
        orientation = LinearLayout.VERTICAL
        val label = TextView(activity)
        val boxes = TextView(activity).apply {
            textSize = 24f
            letterSpacing = 0.3f
            importantForAccessibility = View.IMPORTANT_FOR_ACCESSIBILITY_NO
        }
        val typing = EditText(activity).apply {
            inputType = InputType.TYPE_CLASS_NUMBER or InputType.TYPE_NUMBER_VARIATION_PASSWORD
            // Nothing typed is ever shown or kept here: each digit goes to the app at once.
            addTextChangedListener(object : TextWatcher {
                override fun beforeTextChanged(s: CharSequence?, start: Int, count: Int, after: Int) = Unit
                override fun onTextChanged(s: CharSequence?, start: Int, before: Int, count: Int) = Unit
                override fun afterTextChanged(s: Editable) {
                    if (s.isEmpty()) return
                    val typed = s.filter { it in '0'..'9' }.map { (it - '0').toUByte() }
                    s.clear()
                    typed.forEach { send(AppEvent.Digit(input.field, it)) }
                }
            })
            setOnKeyListener { _, code, event ->
                if (code == KeyEvent.KEYCODE_DEL && event.action == KeyEvent.ACTION_DOWN) {
                    send(AppEvent.Erase(input.field))
                    true
                } else {
                    false
                }
            }
        }
        val erase = Button(activity).apply { setOnClickListener { send(AppEvent.Erase(input.field)) } }
        addView(label)
        addView(boxes)
        addView(typing)
        addView(erase)
    }

    private fun updateDigits(view: LinearLayout, input: DigitsInput) {
        (view.getChildAt(0) as TextView).text = input.label
        val length = input.length.toInt()
        val filled = input.filled.toInt()
        (view.getChildAt(1) as TextView).text =
            input.shown?.padEnd(length, '_') ?: ("•".repeat(filled) + "_".repeat(maxOf(0, length - filled)))
        val typing = view.getChildAt(2) as EditText
        typing.contentDescription = input.a11y
        typing.isEnabled = input.enabled
        val erase = view.getChildAt(3) as Button
        erase.text = input.erase
        erase.isEnabled = input.enabled && filled > 0
    }

    private fun field(input: TextInput): View = LinearLayout(activity).apply {
        orientation = LinearLayout.VERTICAL
        val label = TextView(activity)
        val edit = EditText(activity).apply {
            inputType = if (input.secret) {
                InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_VARIATION_PASSWORD
            } else {
                InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_VARIATION_URI
            }
            label.labelFor = View.generateViewId().also { id = it }
            addTextChangedListener(object : TextWatcher {
                override fun beforeTextChanged(s: CharSequence?, start: Int, count: Int, after: Int) = Unit
                override fun onTextChanged(s: CharSequence?, start: Int, before: Int, count: Int) = Unit
                override fun afterTextChanged(s: Editable) = send(AppEvent.Input(input.field, s.toString()))
            })
        }
        addView(label)
        addView(edit)
    }

    private fun color(tone: Tone): Int = when (tone) {
        Tone.SUCCESS -> Color.rgb(0x2e, 0x7d, 0x32)
        Tone.WARNING -> Color.rgb(0xb2, 0x6a, 0x00)
        Tone.ERROR -> Color.rgb(0xc6, 0x28, 0x28)
        Tone.INFO -> Color.DKGRAY
    }

    private fun dp(value: Int): Int = (value * activity.resources.displayMetrics.density).toInt()
}

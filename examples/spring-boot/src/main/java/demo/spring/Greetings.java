package demo.spring;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.util.Map;
import org.springframework.context.annotation.Bean;
import org.springframework.stereotype.Controller;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.servlet.ModelAndView;
import org.springframework.web.servlet.View;

/**
 * A handler that chooses a view by name ({@code greeting}), rendered by a {@code View} bean of
 * that name (Spring Boot's {@code BeanNameViewResolver}): the agent's view-rendering step needs no
 * template engine to be seen.
 */
@Controller
public class Greetings {
    /** The model and the view's name. */
    @GetMapping("/greeting/{name}")
    public ModelAndView greet(@PathVariable("name") String name) {
        return new ModelAndView("greeting", Map.of("name", name));
    }

    /** The {@code greeting} view: plain text from the model. */
    @Bean(name = "greeting")
    public View greetingView() {
        return new View() {
            @Override
            public String getContentType() {
                return "text/plain";
            }

            @Override
            public void render(Map<String, ?> model, HttpServletRequest request, HttpServletResponse response)
                    throws Exception {
                response.setContentType("text/plain");
                response.getWriter().print("hello " + model.get("name"));
            }
        };
    }
}
